// Access::Core: the shared state of an Access, reachable from the IOAS's unmap path.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "uvfio/iommu/access.h"

namespace uvfio::iommu {

struct IoasState;

struct Access::Core : std::enable_shared_from_this<Access::Core> {
  struct Pin {
    uint64_t iova;
    uint64_t length;
    bool write;
  };

  UnmapCallback on_unmap;
  std::mutex mu;                           // guards ioas, pins, attach/detach
  std::shared_ptr<Ioas> ioas;              // keeps the IOAS alive while attached
  std::atomic<IoasState*> state{nullptr};  // what device threads read, in read sections
  std::vector<Pin> pins;
};

/// Calls the access's unmap callback (without holding its lock) if it holds pins in range.
void access_notify_unmap(Access::Core& core, uint64_t iova, uint64_t length);

}  // namespace uvfio::iommu
