// ClientMemory: a client's DMA window mapped without an fd. The device's reads and writes of it
// become DMA_READ / DMA_WRITE messages to the client (iommu::RemoteMemory behind an IOAS area).
#pragma once

#include <cstdint>
#include <memory>

#include "uvfio/iommu/remote_memory.h"
#include "vfio_user/connection.h"

namespace uvfio::vfio_user {

/// Immutable; shared by the IOAS areas that map it; called from device threads concurrently.
/// Holds the connection, so a device thread still inside a transfer after the session ended
/// fails cleanly (-EIO) instead of touching a closed socket.
class ClientMemory final : public iommu::RemoteMemory {
 public:
  ClientMemory(std::shared_ptr<Connection> conn, uint64_t base_iova)
      : conn_(std::move(conn)), base_(base_iova) {}
  int read(uint64_t offset, void* dst, size_t len) override {
    return conn_->dma_read(base_ + offset, dst, len);
  }
  int write(uint64_t offset, const void* src, size_t len) override {
    return conn_->dma_write(base_ + offset, src, len);
  }

 private:
  const std::shared_ptr<Connection> conn_;
  const uint64_t base_;  // the IOVA of the window's first byte: DMA messages carry IOVAs
};

}  // namespace uvfio::vfio_user
