// FakePciDevice: a small VfioDeviceOps for the driver API's transport tests, independent of the
// vfio-pci core: a 4 KiB MMIO BAR0 of plain registers, a 16 KiB memory BAR2 whose page 1 is
// left out of mmap by a sparse-mmap capability, a 256-byte config space with MSI (0x40) and PM
// (0x50) capabilities, INTx (automasked), 2 MSI vectors and REQ, reset and DMA hooks.
#pragma once

#include <linux/vfio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "uvfio/base/mapping.h"
#include "uvfio/vfio/device_ops.h"

namespace uvfio::test {

class FakePciDevice : public vfio::VfioDeviceOps {
 public:
  static constexpr uint64_t kBar0Size = 4096;
  static constexpr uint64_t kBar2Size = 16384;
  static constexpr unsigned kMsiVectors = 2;

  FakePciDevice() {
    int fd = ::memfd_create("fake-bar2", MFD_CLOEXEC);
    (void)::ftruncate(fd, kBar2Size);
    bar2_fd_ = fd;
    bar2_ = std::move(*Mapping::map(kBar2Size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    reset_config();
  }
  ~FakePciDevice() override { ::close(bar2_fd_); }

  int open_device(const vfio::DmaContext& dma) override {
    std::lock_guard l(mu_);
    dma_ = dma;
    ++opens_;
    return 0;
  }
  void close_device() override {
    std::lock_guard l(mu_);
    dma_ = {};
    fds_.clear();
    ++closes_;
  }

  long ioctl(unsigned long request, unsigned long arg) override {
    switch (request) {
      case VFIO_DEVICE_GET_INFO: {
        auto* info = reinterpret_cast<vfio_device_info*>(arg);
        info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
        info->num_regions = VFIO_PCI_NUM_REGIONS;
        info->num_irqs = VFIO_PCI_NUM_IRQS;
        return 0;
      }
      case VFIO_DEVICE_GET_REGION_INFO:
        return region_info(reinterpret_cast<vfio_region_info*>(arg));
      case VFIO_DEVICE_GET_IRQ_INFO: {
        auto* ii = reinterpret_cast<vfio_irq_info*>(arg);
        if (ii->index >= VFIO_PCI_NUM_IRQS) return -EINVAL;
        ii->count = irq_count(ii->index);
        ii->flags = ii->count ? VFIO_IRQ_INFO_EVENTFD : 0;
        if (ii->index == VFIO_PCI_INTX_IRQ_INDEX) {
          ii->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
        }
        if (ii->index == VFIO_PCI_MSI_IRQ_INDEX) ii->flags |= VFIO_IRQ_INFO_NORESIZE;
        return 0;
      }
      case VFIO_DEVICE_SET_IRQS:
        return set_irqs(reinterpret_cast<vfio_irq_set*>(arg));
      case VFIO_DEVICE_RESET: {
        std::lock_guard l(mu_);
        ++resets_;
        regs_.fill(0);
        reset_config();
        return 0;
      }
      default:
        return -ENOTTY;
    }
  }

  ssize_t read(void* buf, size_t count, uint64_t offset) override {
    return rw(buf, nullptr, count, offset);
  }
  ssize_t write(const void* buf, size_t count, uint64_t offset) override {
    return rw(nullptr, buf, count, offset);
  }
  void* mmap(size_t length, int prot, int flags, uint64_t offset) override {
    if (offset >> 40 != VFIO_PCI_BAR2_REGION_INDEX) return reinterpret_cast<void*>(-EINVAL);
    const uint64_t off = offset & ((uint64_t{1} << 40) - 1);
    if (off + length > kBar2Size) return reinterpret_cast<void*>(-EINVAL);
    void* p = ::mmap(nullptr, length, prot, flags, bar2_fd_, static_cast<off_t>(off));
    return p == MAP_FAILED ? reinterpret_cast<void*>(-errno) : p;
  }

  // --- test hooks ---
  /// The device raises vector `v` of `index`: INTx is level-triggered and automasked — a masked
  /// line stays pending until unmasked.
  void fire(unsigned index, unsigned v) {
    std::lock_guard l(mu_);
    if (index == VFIO_PCI_INTX_IRQ_INDEX) {
      if (intx_masked_) {
        intx_pending_ = true;
        return;
      }
      intx_masked_ = true;
    }
    signal_locked(index, v);
  }
  /// DMA as the device: through the IOMMU access, or untranslated under no-IOMMU.
  int dma_write(uint64_t iova, const void* src, size_t len) {
    std::lock_guard l(mu_);
    if (!dma_.translated) {
      std::memcpy(reinterpret_cast<void*>(iova), src, len);
      return 0;
    }
    if (!dma_.access) return -EIO;
    auto r = dma_.access->write(iova, src, len);
    return r ? 0 : -r.error();
  }
  int dma_read(uint64_t iova, void* dst, size_t len) {
    std::lock_guard l(mu_);
    if (!dma_.translated) {
      std::memcpy(dst, reinterpret_cast<const void*>(iova), len);
      return 0;
    }
    if (!dma_.access) return -EIO;
    auto r = dma_.access->read(iova, dst, len);
    return r ? 0 : -r.error();
  }
  bool translated() {
    std::lock_guard l(mu_);
    return dma_.translated;
  }
  uint32_t reg(unsigned i) {
    std::lock_guard l(mu_);
    return regs_[i];
  }
  std::byte* bar2() { return bar2_.bytes(); }
  int resets() {
    std::lock_guard l(mu_);
    return resets_;
  }
  int closes() {
    std::lock_guard l(mu_);
    return closes_;
  }
  int opens() {
    std::lock_guard l(mu_);
    return opens_;
  }
  bool intx_masked() {
    std::lock_guard l(mu_);
    return intx_masked_;
  }
  /// Bytes of the capability chain the region info of BAR2 carries.
  static constexpr size_t kBar2CapBytes =
      sizeof(vfio_region_info_cap_sparse_mmap) + 2 * sizeof(vfio_region_sparse_mmap_area);

 private:
  static unsigned irq_count(unsigned index) {
    switch (index) {
      case VFIO_PCI_INTX_IRQ_INDEX:
        return 1;
      case VFIO_PCI_MSI_IRQ_INDEX:
        return kMsiVectors;
      case VFIO_PCI_REQ_IRQ_INDEX:
        return 1;
      default:
        return 0;
    }
  }

  void reset_config() {
    config_.fill(0);
    put16(0x00, 0x1234);
    put16(0x02, 0x5678);
    put16(0x06, 0x0010);  // Status.Capabilities List
    config_[0x08] = 0x01;
    config_[0x09] = 0x00;
    config_[0x0a] = 0x80;
    config_[0x0b] = 0x10;  // class 0x108000
    config_[0x34] = 0x40;
    config_[0x3d] = 1;     // INTA#
    config_[0x40] = 0x05;  // MSI
    config_[0x41] = 0x50;
    config_[0x50] = 0x01;  // PM
    config_[0x51] = 0x00;
  }
  void put16(size_t off, uint16_t v) {
    config_[off] = static_cast<uint8_t>(v);
    config_[off + 1] = static_cast<uint8_t>(v >> 8);
  }

  long region_info(vfio_region_info* ri) {
    if (ri->argsz < offsetof(vfio_region_info, offset) + sizeof(ri->offset)) return -EINVAL;
    if (ri->index >= VFIO_PCI_NUM_REGIONS) return -EINVAL;
    ri->offset = uint64_t{ri->index} << 40;
    ri->size = 0;
    ri->flags = 0;
    ri->cap_offset = 0;
    switch (ri->index) {
      case VFIO_PCI_BAR0_REGION_INDEX:
        ri->size = kBar0Size;
        ri->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        break;
      case VFIO_PCI_BAR2_REGION_INDEX: {
        ri->size = kBar2Size;
        ri->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
                    VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
        const uint32_t need = sizeof(vfio_region_info) + kBar2CapBytes;
        if (ri->argsz < need) {
          ri->argsz = need;  // the kernel's "ask again with this much"
          break;
        }
        vfio_region_info_cap_sparse_mmap sp{};
        sp.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
        sp.header.version = 1;
        sp.nr_areas = 2;
        auto* base = reinterpret_cast<uint8_t*>(ri);
        std::memcpy(base + sizeof(vfio_region_info), &sp, sizeof sp);
        vfio_region_sparse_mmap_area areas[2] = {{0, 4096}, {8192, 8192}};
        std::memcpy(base + sizeof(vfio_region_info) + sizeof sp, areas, sizeof areas);
        ri->cap_offset = sizeof(vfio_region_info);
        break;
      }
      case VFIO_PCI_CONFIG_REGION_INDEX:
        ri->size = 256;
        ri->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        break;
      default:
        break;
    }
    return 0;
  }

  long set_irqs(vfio_irq_set* s) {
    if (s->argsz < sizeof(vfio_irq_set) || s->index >= VFIO_PCI_NUM_IRQS) return -EINVAL;
    const unsigned max = irq_count(s->index);
    const uint32_t data = s->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    const uint32_t action = s->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    if (s->count != 0 && (s->start >= max || s->count > max - s->start)) return -EINVAL;
    std::lock_guard l(mu_);
    if (action == VFIO_IRQ_SET_ACTION_TRIGGER && data == VFIO_IRQ_SET_DATA_NONE && s->count == 0) {
      fds_.erase(s->index);
      if (s->index == VFIO_PCI_INTX_IRQ_INDEX) intx_masked_ = intx_pending_ = false;
      return 0;
    }
    if (s->count == 0) return -EINVAL;
    if (action == VFIO_IRQ_SET_ACTION_TRIGGER && data == VFIO_IRQ_SET_DATA_EVENTFD) {
      if (s->argsz < sizeof(vfio_irq_set) + s->count * sizeof(int32_t)) return -EINVAL;
      auto& v = fds_[s->index];
      v.resize(max, -1);
      for (uint32_t i = 0; i < s->count; ++i) {
        int32_t fd;
        std::memcpy(&fd, s->data + i * sizeof fd, sizeof fd);
        v[s->start + i] = fd;
      }
      return 0;
    }
    if (action == VFIO_IRQ_SET_ACTION_TRIGGER && data == VFIO_IRQ_SET_DATA_BOOL) {
      if (s->argsz < sizeof(vfio_irq_set) + s->count) return -EINVAL;
      for (uint32_t i = 0; i < s->count; ++i) {
        if (s->data[i] != 0) signal_locked(s->index, s->start + i);
      }
      return 0;
    }
    if (data != VFIO_IRQ_SET_DATA_NONE) return -EINVAL;  // enough for these tests
    if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
      for (uint32_t i = 0; i < s->count; ++i) signal_locked(s->index, s->start + i);
      return 0;
    }
    if (s->index != VFIO_PCI_INTX_IRQ_INDEX) return -EINVAL;
    if (action == VFIO_IRQ_SET_ACTION_MASK) {
      intx_masked_ = true;
    } else if (action == VFIO_IRQ_SET_ACTION_UNMASK) {
      intx_masked_ = false;
      if (intx_pending_) {  // still asserted: delivered again and masked again
        intx_pending_ = false;
        intx_masked_ = true;
        signal_locked(VFIO_PCI_INTX_IRQ_INDEX, 0);
      }
    }
    return 0;
  }

  void signal_locked(unsigned index, unsigned v) {
    auto it = fds_.find(index);
    if (it == fds_.end() || v >= it->second.size() || it->second[v] < 0) return;
    uint64_t one = 1;
    (void)!::write(it->second[v], &one, sizeof one);
  }

  ssize_t rw(void* rbuf, const void* wbuf, size_t count, uint64_t offset) {
    const unsigned index = static_cast<unsigned>(offset >> 40);
    const uint64_t off = offset & ((uint64_t{1} << 40) - 1);
    std::lock_guard l(mu_);
    std::byte* mem = nullptr;
    uint64_t size = 0;
    switch (index) {
      case VFIO_PCI_BAR0_REGION_INDEX:
        mem = reinterpret_cast<std::byte*>(regs_.data());
        size = kBar0Size;
        break;
      case VFIO_PCI_BAR2_REGION_INDEX:
        mem = bar2_.bytes();
        size = kBar2Size;
        break;
      case VFIO_PCI_CONFIG_REGION_INDEX:
        mem = reinterpret_cast<std::byte*>(config_.data());
        size = 256;
        break;
      default:
        return -EINVAL;
    }
    if (off >= size || count > size - off) return -EINVAL;
    if (wbuf == nullptr) {
      if (rbuf != nullptr) std::memcpy(rbuf, mem + off, count);
    } else if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
      // Only Command (0x04..0x05) is writable here.
      for (size_t i = 0; i < count; ++i) {
        if (off + i == 4 || off + i == 5) {
          config_[off + i] = static_cast<const uint8_t*>(wbuf)[i];
        }
      }
    } else {
      std::memcpy(mem + off, wbuf, count);
    }
    return static_cast<ssize_t>(count);
  }

  std::mutex mu_;
  vfio::DmaContext dma_;
  std::array<uint32_t, kBar0Size / 4> regs_{};
  std::array<uint8_t, 256> config_{};
  int bar2_fd_ = -1;
  Mapping bar2_;
  std::map<unsigned, std::vector<int>> fds_;
  bool intx_masked_ = false;
  bool intx_pending_ = false;
  int opens_ = 0;
  int closes_ = 0;
  int resets_ = 0;
};

}  // namespace uvfio::test
