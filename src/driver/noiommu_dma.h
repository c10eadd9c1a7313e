// NoIommuDmaTransport: DMA without an IOMMU — nothing is mapped; the device uses bus addresses.
#pragma once

#include <functional>
#include <string>

#include "driver/system_fd.h"
#include "driver/transport.h"

namespace uvfio::driver::detail {

/// The bus address of process memory [va, va+length), or a negative errno (as -errno cast) if
/// it has none usable. For emulated devices it is the process address itself (the emulation's
/// "physical" address space is this process); a kernel no-IOMMU device will supply the physical
/// address of pinned, contiguous memory (/proc/self/pagemap) here.
using BusAddressFn = std::function<uint64_t(const void* va, uint64_t length)>;

/// Owns the no-IOMMU container and group fds. Thread-safe (stateless after construction).
class NoIommuDmaTransport : public DmaTransport {
 public:
  NoIommuDmaTransport(SystemFd container, SystemFd group, BusAddressFn bus_address,
                      std::string target);

  DmaKind kind() const override { return DmaKind::kNoIommu; }
  bool translates() const override { return false; }
  std::vector<iommu::IovaRange> iova_ranges() const override { return {{0, UINT64_MAX}}; }
  uint64_t page_sizes() const override;
  uint64_t map(const DmaRequest& req, std::optional<uint64_t> iova, uint64_t limit,
               uint64_t align) override;
  void unmap(uint64_t /*iova*/, uint64_t /*length*/) override {}
  const std::string& target() const override { return target_; }

 private:
  SystemFd container_;
  SystemFd group_;
  BusAddressFn bus_address_;
  std::string target_;
};

}  // namespace uvfio::driver::detail
