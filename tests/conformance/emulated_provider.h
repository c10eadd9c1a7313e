// The emulated provider: builds each scenario's world on a fresh uvfio Host.
#pragma once

#include "scenario.h"

namespace uvfio::conformance {

std::unique_ptr<Provider> make_emulated_provider();

}  // namespace uvfio::conformance
