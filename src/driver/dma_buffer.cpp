#include "uvfio/driver/dma_buffer.h"

#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "uvfio/base/mapping.h"
#include "uvfio/base/unique_fd.h"
#include "uvfio/driver/error.h"

namespace uvfio::driver {

struct DmaBuffer::Memory {
  UniqueFd fd;
  Mapping map;
  size_t page_size = 0;
  bool huge = false;
};

namespace {

/// The default huge page size from /proc/meminfo ("Hugepagesize: 2048 kB"); 0 if unknown.
uint64_t default_hugepage_size() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key) {
    if (key == "Hugepagesize:") {
      in >> kb >> unit;
      return kb * 1024;
    }
    std::getline(in, unit);
  }
  return 0;
}

std::string mib(uint64_t bytes) {
  return bytes % (1 << 20) == 0 ? fmt::format("{} MiB", bytes >> 20)
                                : fmt::format("{} KiB", bytes >> 10);
}

}  // namespace

DmaBuffer DmaBuffer::allocate(size_t size, const DmaBufferOptions& options) {
  const std::string what = options.hugepages ? "memfd_create(MFD_HUGETLB)" : "memfd_create";
  if (size == 0) throw Error("DmaBuffer::allocate", "", EINVAL, "size 0");
  auto mem = std::make_shared<Memory>();
  unsigned flags = MFD_CLOEXEC;
  mem->page_size = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (options.hugepages) {
    const uint64_t hp =
        options.hugepage_size != 0 ? options.hugepage_size : default_hugepage_size();
    if (hp == 0 || !std::has_single_bit(hp) || hp < mem->page_size) {
      throw Error(what, "", EINVAL,
                  hp == 0 ? "this system reports no huge page size (/proc/meminfo)"
                          : fmt::format("huge page size {:#x} is not a power of two", hp));
    }
    flags |= MFD_HUGETLB;
    // MFD_HUGE_* encodes log2(size) above MFD_HUGE_SHIFT; 0 picks the default size.
    if (options.hugepage_size != 0) {
      flags |= static_cast<unsigned>(std::countr_zero(hp)) << MFD_HUGE_SHIFT;
    }
    mem->page_size = static_cast<size_t>(hp);
    mem->huge = true;
  }
  if (size > SIZE_MAX - (mem->page_size - 1)) {
    throw Error("DmaBuffer::allocate", "", EINVAL, "size overflows");
  }
  const size_t rounded = (size + mem->page_size - 1) & ~(mem->page_size - 1);
  const int fd = ::memfd_create(options.name.c_str(), flags);
  if (fd < 0) {
    const int err = errno;
    throw Error(what, "", err,
                options.hugepages
                    ? fmt::format("huge pages of {} unsupported here", mib(mem->page_size))
                    : std::string());
  }
  mem->fd.reset(fd);
  if (::ftruncate(fd, static_cast<off_t>(rounded)) != 0) {
    throw Error("ftruncate", "", errno, fmt::format("memfd of {} bytes", rounded));
  }
  // MAP_POPULATE faults the pages in now: with huge pages an empty pool fails here (ENOMEM)
  // instead of with SIGBUS at the first touch.
  auto map = Mapping::map(rounded, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (!map) {
    throw Error("mmap", "", map.error(),
                options.hugepages ? fmt::format("{} of huge pages ({} each): are enough reserved? "
                                                "(/proc/sys/vm/nr_hugepages)",
                                                mib(rounded), mib(mem->page_size))
                                  : fmt::format("memfd of {} bytes", rounded));
  }
  mem->map = std::move(*map);
  return DmaBuffer(std::move(mem));
}

DmaBuffer::~DmaBuffer() = default;

void* DmaBuffer::data() const {
  return mem_ ? mem_->map.data() : nullptr;
}
size_t DmaBuffer::size() const {
  return mem_ ? mem_->map.size() : 0;
}
size_t DmaBuffer::page_size() const {
  return mem_ ? mem_->page_size : 0;
}
bool DmaBuffer::hugepages() const {
  return mem_ && mem_->huge;
}
int DmaBuffer::fd() const {
  return mem_ ? mem_->fd.get() : -1;
}

}  // namespace uvfio::driver
