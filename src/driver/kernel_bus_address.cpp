#include "driver/kernel_bus_address.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "uvfio/base/unique_fd.h"
#include "uvfio/driver/error.h"

namespace uvfio::driver::detail {
namespace {

// pagemap entry layout (Documentation/admin-guide/mm/pagemap.rst).
constexpr uint64_t kPresent = uint64_t{1} << 63;
constexpr uint64_t kPfnMask = (uint64_t{1} << 55) - 1;
// Reading more than this many pages' entries at once is never needed for a sane DMA buffer.
constexpr uint64_t kMaxPages = uint64_t{1} << 24;

uint64_t bus_address(const std::string& pagemap, const std::string& target, const void* va,
                     uint64_t length) {
  const std::string op = "DMA map";
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto addr = reinterpret_cast<uint64_t>(va);
  if (length == 0 || length - 1 > UINT64_MAX - addr) {
    throw Error(op, target, EINVAL, "empty or wrapping memory range (no-IOMMU)");
  }
  const uint64_t first = addr / page;
  const uint64_t count = (addr + length - 1) / page - first + 1;
  if (count > kMaxPages) {
    throw Error(op, target, EINVAL, fmt::format("{} pages is too large for no-IOMMU DMA", count));
  }
  // Pinned first, so the frames read below stay the memory's (mlock faults pages in).
  if (::mlock(va, length) != 0) {
    const int err = errno;
    throw Error(op, target, err,
                fmt::format("mlock of {:#x} bytes for no-IOMMU DMA: raise the locked-memory limit "
                            "(ulimit -l) or run as root",
                            length));
  }
  UniqueFd fd(::open(pagemap.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    throw Error(op, target, err, "open(" + pagemap + "): no-IOMMU DMA needs physical addresses");
  }
  std::vector<uint64_t> entries(count);
  const auto bytes = static_cast<ssize_t>(count * sizeof(uint64_t));
  const ssize_t n = ::pread(fd.get(), entries.data(), static_cast<size_t>(bytes),
                            static_cast<off_t>(first * sizeof(uint64_t)));
  if (n != bytes) {
    throw Error(op, target, n < 0 ? errno : EIO, "reading " + pagemap + " for no-IOMMU DMA");
  }
  uint64_t pfn0 = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t e = entries[i];
    if ((e & kPresent) == 0) {
      throw Error(op, target, EFAULT,
                  fmt::format("page {} of the memory is not resident (no-IOMMU)", i));
    }
    const uint64_t pfn = e & kPfnMask;
    if (pfn == 0) {
      // Since 4.2 pagemap zeroes frame numbers for readers without CAP_SYS_ADMIN.
      throw Error(op, target, EPERM,
                  pagemap +
                      " hides physical addresses without CAP_SYS_ADMIN: no-IOMMU DMA needs "
                      "root");
    }
    if (i == 0) {
      pfn0 = pfn;
    } else if (pfn != pfn0 + i) {
      throw Error(op, target, EINVAL,
                  fmt::format("the memory is not physically contiguous (page {} is at frame "
                              "{:#x}, not {:#x}): without an IOMMU a buffer of more than one "
                              "page must be on a huge page: DmaBuffer::allocate(size, "
                              "{{.hugepages = true}})",
                              i, pfn, pfn0 + i));
    }
  }
  return pfn0 * page + addr % page;
}

}  // namespace

BusAddressFn pagemap_bus_address(std::string pagemap, std::string target) {
  return [pagemap = std::move(pagemap), target = std::move(target)](
             const void* va, uint64_t length) { return bus_address(pagemap, target, va, length); };
}

}  // namespace uvfio::driver::detail
