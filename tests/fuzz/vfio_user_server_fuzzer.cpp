// libFuzzer entry point: each input is one client session against the in-process vfio-user
// server (server_harness.h); the input format is fuzz_input.h's chunk stream.
#include <cstddef>
#include <cstdint>

#include "server_harness.h"
#include "uvfio/base/log.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Every refused message is logged as a warning; at fuzzing rates that is noise. Errors stay.
  uvfio::set_log_level(uvfio::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uvfio::fuzz::ServerHarness::instance().run({data, size});
  return 0;
}
