// Copies that survive memory vanishing under them. A vfio-user client hands the server a file to
// map for DMA and may truncate it afterwards: touching the mapping's vanished pages raises
// SIGBUS, which would kill the server on behalf of one misbehaving client. A guarded copy turns
// that SIGBUS into a failed copy (the device sees a DMA fault) instead.
#pragma once

#include <cstddef>

namespace uvfio {

/// memcpy(dst, src, n), except that a SIGBUS raised while copying makes it return false (with
/// part of dst possibly written) instead of killing the process. Installs a process-wide SIGBUS
/// handler on first use; SIGBUS outside a guarded copy keeps its default action (the process
/// dies with a core, as it would have). Thread-safe; async-signal-safe it is not.
bool guarded_memcpy(void* dst, const void* src, size_t n);

}  // namespace uvfio
