// Step builders shared by the scenario tables: each returns a Step calling one VFIO syscall the
// way a driver would, with the kernel's expected answer.
#pragma once

#include <linux/vfio.h>

#include <cstring>
#include <string>

#include "scenario.h"

namespace uvfio::conformance {

/// Concatenates step lists (a common prefix plus a scenario's own steps).
inline std::vector<Step> operator+(std::vector<Step> a, const std::vector<Step>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace uvfio::conformance

namespace uvfio::conformance::steps {

inline constexpr long kFd = Step::kAnyFd;
inline long err(int e) {
  return -static_cast<long>(e);
}

inline Step open_container(const std::string& slot = "container", long expect = kFd) {
  return {"open /dev/vfio/vfio as " + slot,
          [slot](Env& e) { return e.open(slot, "/dev/vfio/vfio"); }, expect};
}
/// Opens the world's first (which=1) or second (which=2) group.
inline Step open_group(const std::string& slot = "group", int which = 1, long expect = kFd) {
  return {
      "open group " + std::to_string(which) + " as " + slot,
      [slot, which](Env& e) { return e.open(slot, which == 1 ? e.world.group : e.world.group2); },
      expect};
}
inline Step open_path(const std::string& slot, const std::string& path, long expect) {
  return {"open " + path, [slot, path](Env& e) { return e.open(slot, path); }, expect};
}
inline Step close_fd(const std::string& slot, long expect = 0) {
  return {"close " + slot, [slot](Env& e) { return e.close(slot); }, expect};
}
inline Step api_version(const std::string& slot, long expect) {
  return {"VFIO_GET_API_VERSION on " + slot,
          [slot](Env& e) { return e.ioctl(slot, VFIO_GET_API_VERSION, 0ul); }, expect};
}
inline Step check_extension(const std::string& slot, unsigned long ext, long expect) {
  return {"VFIO_CHECK_EXTENSION(" + std::to_string(ext) + ") on " + slot,
          [slot, ext](Env& e) { return e.ioctl(slot, VFIO_CHECK_EXTENSION, ext); }, expect};
}
inline Step set_iommu(const std::string& slot, unsigned long type, long expect) {
  return {"VFIO_SET_IOMMU(" + std::to_string(type) + ") on " + slot,
          [slot, type](Env& e) { return e.ioctl(slot, VFIO_SET_IOMMU, type); }, expect};
}
inline Step set_container(const std::string& group, const std::string& container, long expect) {
  return {"VFIO_GROUP_SET_CONTAINER(" + group + ", " + container + ")",
          [group, container](Env& e) {
            int fd = e.fd(container);
            return e.ioctl(group, VFIO_GROUP_SET_CONTAINER, &fd);
          },
          expect};
}
inline Step set_container_fd(const std::string& group, int fd, long expect) {
  return {"VFIO_GROUP_SET_CONTAINER(" + group + ", fd " + std::to_string(fd) + ")",
          [group, fd](Env& e) {
            int f = fd;
            return e.ioctl(group, VFIO_GROUP_SET_CONTAINER, &f);
          },
          expect};
}
inline Step unset_container(const std::string& group, long expect) {
  return {"VFIO_GROUP_UNSET_CONTAINER(" + group + ")",
          [group](Env& e) { return e.ioctl(group, VFIO_GROUP_UNSET_CONTAINER, 0ul); }, expect};
}
/// Returns the status flags on success.
inline Step group_status(const std::string& group, long expect, uint32_t argsz = 8) {
  return {"VFIO_GROUP_GET_STATUS(" + group + ")",
          [group, argsz](Env& e) -> long {
            vfio_group_status st{};
            st.argsz = argsz;
            long r = e.ioctl(group, VFIO_GROUP_GET_STATUS, &st);
            return r < 0 ? r : static_cast<long>(st.flags);
          },
          expect};
}
/// GET_DEVICE_FD for the world's device (which=1/2) or an explicit name; remembers the fd.
inline Step get_device_fd(const std::string& group, const std::string& slot, long expect,
                          int which = 1, const char* name = nullptr) {
  return {"VFIO_GROUP_GET_DEVICE_FD(" + group + ") as " + slot,
          [group, slot, which, n = std::string(name ? name : "")](Env& e) {
            std::string dev = !n.empty() ? n : (which == 1 ? e.world.device : e.world.device2);
            return e.keep(slot,
                          e.ioctl(group, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>(dev.c_str())));
          },
          expect};
}
/// VFIO_DEVICE_GET_INFO; returns num_regions on success.
inline Step device_info(const std::string& dev, long expect,
                        uint32_t argsz = sizeof(vfio_device_info)) {
  return {"VFIO_DEVICE_GET_INFO(" + dev + ")",
          [dev, argsz](Env& e) -> long {
            vfio_device_info info{};
            info.argsz = argsz;
            long r = e.ioctl(dev, VFIO_DEVICE_GET_INFO, &info);
            return r < 0 ? r : static_cast<long>(info.num_regions);
          },
          expect};
}
/// MAP_DMA of `size` bytes of buffer `buf` (at byte offset `off`) at `iova`.
inline Step map_dma(const std::string& c, uint64_t iova, uint64_t size, long expect,
                    uint32_t flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                    uint64_t off = 0, uint32_t argsz = sizeof(vfio_iommu_type1_dma_map),
                    const std::string& buf = "dma") {
  return {"VFIO_IOMMU_MAP_DMA(iova " + std::to_string(iova) + ", size " + std::to_string(size) +
              ", flags " + std::to_string(flags) + ")",
          [=](Env& e) {
            auto* p = static_cast<char*>(e.buffer(buf, 1 << 22));
            vfio_iommu_type1_dma_map m{};
            m.argsz = argsz;
            m.flags = flags;
            m.vaddr = reinterpret_cast<uint64_t>(p + off);
            m.iova = iova;
            m.size = size;
            return e.ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
          },
          expect};
}
/// UNMAP_DMA; returns the unmapped size on success.
inline Step unmap_dma(const std::string& c, uint64_t iova, uint64_t size, long expect,
                      uint32_t flags = 0, uint32_t argsz = sizeof(vfio_iommu_type1_dma_unmap)) {
  return {"VFIO_IOMMU_UNMAP_DMA(iova " + std::to_string(iova) + ", size " + std::to_string(size) +
              ", flags " + std::to_string(flags) + ")",
          [=](Env& e) -> long {
            vfio_iommu_type1_dma_unmap u{};
            u.argsz = argsz;
            u.flags = flags;
            u.iova = iova;
            u.size = size;
            long r = e.ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u);
            return r < 0 ? r : static_cast<long>(u.size);
          },
          expect};
}
/// A step of free form.
inline Step custom(std::string what, std::function<long(Env&)> f, long expect) {
  return {std::move(what), std::move(f), expect};
}

/// The canonical start: container, group, SET_CONTAINER, SET_IOMMU(type).
inline std::vector<Step> legacy_setup(unsigned long type = VFIO_TYPE1v2_IOMMU) {
  return {open_container(), open_group(), set_container("group", "container", 0),
          set_iommu("container", type, 0)};
}

}  // namespace uvfio::conformance::steps
