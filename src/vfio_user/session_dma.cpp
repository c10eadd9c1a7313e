// Session: DMA_MAP and DMA_UNMAP. The client's DMA windows become areas of the session's IOAS:
// an fd is mmapped (MemorySource::file), a window without one is remote memory the device reaches
// through DMA_READ/DMA_WRITE messages (ClientMemory), and the file-I/O access mode reaches the fd
// with pread/pwrite (FileIoMemory).
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "base/log_format.h"
#include "uvfio/base/errno_name.h"
#include "vfio_user/client_memory.h"
#include "vfio_user/file_io_memory.h"
#include "vfio_user/session.h"

namespace uvfio::vfio_user {

int Session::on_dma_map(Message& m) {
  const auto req = m.get<DmaMap>();
  // argsz is this request's own size (reference §1.6), and nothing may follow the struct.
  if (!req || m.payload.size() != sizeof(DmaMap) || req->argsz != sizeof(DmaMap)) return -EINVAL;
  if (m.fds.size() > 1) return -EINVAL;
  const bool has_fd = m.fds.size() == 1;
  const uint32_t known = kDmaMapRead | kDmaMapWrite | kDmaMapAccessMmap | kDmaMapAccessFileIo;
  if ((req->flags & ~known) != 0) return -EINVAL;
  const bool file_io = (req->flags & kDmaMapAccessFileIo) != 0;
  if ((req->flags & kDmaMapAccessMmap) && file_io) return -EINVAL;
  if ((req->flags & (kDmaMapAccessMmap | kDmaMapAccessFileIo)) && !has_fd) return -EINVAL;
  uint32_t map_flags = iommu::kMapFixedIova;
  if (req->flags & kDmaMapRead) map_flags |= iommu::kMapRead;
  if (req->flags & kDmaMapWrite) map_flags |= iommu::kMapWrite;
  // A window the device may neither read nor write is of no use (the IOAS refuses it too).
  if ((map_flags & (iommu::kMapRead | iommu::kMapWrite)) == 0) return -EINVAL;

  // pgsizes: address, size and (for an mmapped fd) offset aligned to the smallest page size.
  const uint64_t page = uint64_t{1} << std::countr_zero(opts_.pgsizes);
  const uint64_t mask = page - 1;
  if (req->size == 0 || (req->addr & mask) || (req->size & mask)) return -EINVAL;
  if (req->addr + (req->size - 1) < req->addr) return -EINVAL;
  if (has_fd && !file_io && (req->offset & mask)) return -EINVAL;
  if (has_fd && req->offset + (req->size - 1) < req->offset) return -EINVAL;

  // Overlap: the spec's EEXIST (libvfio-user answers EINVAL), also for an identical window.
  const uint64_t last = req->addr + (req->size - 1);
  auto next = windows_.lower_bound(req->addr);
  if (next != windows_.end() && next->first <= last) return -EEXIST;
  if (next != windows_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + (prev->second.size - 1) >= req->addr) return -EEXIST;
  }
  // max_dma_maps: libvfio-user's EINVAL at its region limit.
  if (windows_.size() >= opts_.max_dma_maps) return -EINVAL;

  iommu::MemorySource src = iommu::MemorySource::process(nullptr, 0);
  bool remote = false;
  if (!has_fd) {
    src = iommu::MemorySource::remote(std::make_shared<ClientMemory>(conn_, req->addr), req->size);
    remote = true;
  } else if (file_io) {
    src = iommu::MemorySource::remote(
        std::make_shared<FileIoMemory>(std::move(m.fds[0]), req->offset), req->size);
  } else {
    src = iommu::MemorySource::file(m.fds[0].get(), req->offset, req->size);
  }
  auto r = ioas_->map(src, req->addr, map_flags, iommu::Frontend::kType1v2);
  if (!r) {
    log_info("vfio-user", "{}: DMA_MAP {:#x}+{:#x} refused: {}", config_.name, req->addr, req->size,
             errno_name(r.error()));
    return -r.error();
  }
  // The IOAS keeps its own mapping of an fd: ours closes with the message.
  windows_.emplace(req->addr, DmaWindow{req->size, remote});
  log_debug("vfio-user", "{}: DMA_MAP {:#x}+{:#x} flags {:#x} ({})", config_.name, req->addr,
            req->size, req->flags, has_fd ? (file_io ? "file I/O" : "mmap") : "messages");
  return reply(m, std::span<const uint8_t>());
}

int Session::on_dma_unmap(const Message& m) {
  const auto req = m.get<DmaUnmap>();
  if (!req) return -EINVAL;
  size_t struct_size = sizeof(DmaUnmap);
  uint64_t min_argsz = sizeof(DmaUnmap);
  DirtyBitmap bm{};
  switch (req->flags) {
    case 0:
      break;
    case kDmaUnmapAll:
      if (req->addr != 0 || req->size != 0) return -EINVAL;
      break;
    case kDmaUnmapGetDirtyBitmap: {
      const auto b = m.get<DirtyBitmap>(sizeof(DmaUnmap));
      if (!b) return -EINVAL;
      bm = *b;
      struct_size += sizeof(DirtyBitmap);
      min_argsz = struct_size + bm.size;  // the reply carries the bitmap: argsz must cover it
      break;
    }
    default:  // unknown bits, or ALL with GET_DIRTY_BITMAP
      return -EINVAL;
  }
  if (m.payload.size() != struct_size || req->argsz < min_argsz) return -EINVAL;

  if (req->flags == kDmaUnmapAll) {
    // Every window goes; the device's pins are dropped first (the access's unmap callback).
    if (auto r = ioas_->unmap_all(iommu::Frontend::kType1v2); !r) return -r.error();
    windows_.clear();
    return reply(m, {reinterpret_cast<const uint8_t*>(&*req), sizeof(DmaUnmap)});
  }
  // Exactly one earlier window: no partial unmaps, no several at once (libvfio-user's ENOENT).
  const auto it = windows_.find(req->addr);
  if (it == windows_.end() || it->second.size != req->size) return -ENOENT;

  std::vector<uint64_t> bits;
  iommu::DirtySink sink{};
  if (req->flags == kDmaUnmapGetDirtyBitmap) {
    // bit n of 64-bit word n/64 covers page n of the window, as type1 reports it.
    const uint64_t ioas_page = ioas_->page_size();
    if (!std::has_single_bit(bm.pgsize) || bm.pgsize < ioas_page ||
        (req->size & (bm.pgsize - 1)) != 0) {
      return -EINVAL;
    }
    const uint64_t pages = req->size / bm.pgsize;
    const uint64_t need = ((pages + 63) / 64) * 8;
    if (bm.size != need) return -EINVAL;
    bits.assign(need / 8, 0);
    sink = {req->addr, bm.pgsize, bits};
  }
  auto r = ioas_->unmap(req->addr, req->size, iommu::Frontend::kType1v2,
                        req->flags == kDmaUnmapGetDirtyBitmap ? &sink : nullptr);
  if (!r) return -r.error();
  windows_.erase(it);
  if (req->flags != kDmaUnmapGetDirtyBitmap) {
    return reply(m, {reinterpret_cast<const uint8_t*>(&*req), sizeof(DmaUnmap)});
  }
  const std::span<const uint8_t> pieces[3] = {
      {reinterpret_cast<const uint8_t*>(&*req), sizeof(DmaUnmap)},
      {reinterpret_cast<const uint8_t*>(&bm), sizeof bm},
      {reinterpret_cast<const uint8_t*>(bits.data()), bits.size() * 8}};
  return reply(m, pieces);
}

}  // namespace uvfio::vfio_user
