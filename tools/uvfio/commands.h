// The CLI's subcommands, one file each.
#pragma once

namespace uvfio::tools {

/// `uvfio demo`: walks the IO address space an emulated device's DMA goes through.
int run_demo();

}  // namespace uvfio::tools
