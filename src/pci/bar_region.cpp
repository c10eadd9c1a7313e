// BAR access and mmap (vfio_pci_rdwr.c's vfio_pci_bar_rw / vfio_pci_core_do_io_rw and
// vfio_pci_core.c's vfio_pci_core_mmap, Linux 6.12, for emulated functions).
#include "pci/bar_region.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "pci/msix_table.h"

namespace uvfio::pci {

namespace {

uint64_t round_down(uint64_t v, uint64_t page) {
  return v & ~(page - 1);
}
uint64_t round_up(uint64_t v, uint64_t page) {
  return (v + page - 1) & ~(page - 1);
}

// The widest naturally aligned access (8, 4, 2, 1) at `off` that fits in `avail` bytes.
unsigned access_width(uint64_t off, size_t avail) {
  for (unsigned n : {8u, 4u, 2u}) {
    if (avail >= n && off % n == 0) return n;
  }
  return 1;
}

}  // namespace

uint64_t BarRegion::page_size() {
  static const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

Result<std::unique_ptr<BarRegion>> BarRegion::create(unsigned index, const BarSpec& spec,
                                                     BarWindow msix_table, BarWindow msix_pba) {
  std::unique_ptr<BarRegion> bar(new BarRegion(index, spec, msix_table, msix_pba));
  if (!spec.memory_backed) return bar;
  // A sub-page BAR still gets a whole page: the kernel maps the page holding it (it reserves the
  // rest of that page so nothing else lands there), and so does uvfio.
  const uint64_t len = round_up(spec.size, page_size());
  const std::string name = "uvfio-bar" + std::to_string(index);
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC));
  if (!fd) return Errno{errno};
  if (::ftruncate(fd.get(), static_cast<off_t>(len)) != 0) return Errno{errno};
  auto map = Mapping::map(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (!map) return Errno{map.error()};
  bar->memfd_ = std::move(fd);
  bar->mem_ = std::move(*map);
  return bar;
}

std::vector<BarWindow> BarRegion::excluded_pages() const {
  const uint64_t page = page_size();
  std::vector<BarWindow> out;
  for (const BarWindow& w : {table_, pba_}) {
    if (w.empty()) continue;
    const uint64_t start = round_down(w.offset, page);
    out.push_back({start, round_up(w.end(), page) - start});
  }
  std::sort(out.begin(), out.end(),
            [](const BarWindow& a, const BarWindow& b) { return a.offset < b.offset; });
  return out;
}

std::vector<vfio_region_sparse_mmap_area> BarRegion::mmap_areas() const {
  std::vector<vfio_region_sparse_mmap_area> areas;
  if (!spec_.memory_backed) return areas;
  const uint64_t end = round_up(spec_.size, page_size());
  uint64_t at = 0;
  auto emit = [&](uint64_t from, uint64_t to) {
    to = std::min(to, spec_.size);
    if (to > from) areas.push_back({from, to - from});
  };
  for (const BarWindow& x : excluded_pages()) {
    if (x.offset > at) emit(at, x.offset);
    at = std::max(at, x.end());
  }
  if (at < end) emit(at, end);
  return areas;
}

ssize_t BarRegion::rw(DeviceModel& model, MsixTable* msix, void* buf, size_t count, uint64_t pos,
                      bool write) {
  if (pos >= spec_.size) return -EINVAL;
  count = static_cast<size_t>(std::min<uint64_t>(count, spec_.size - pos));
  auto* p = static_cast<std::byte*>(buf);
  size_t done = 0;
  while (done < count) {
    const uint64_t off = pos + done;
    const size_t left = count - done;
    // Which window `off` is in, and how far it reaches (accesses never straddle a window edge).
    const BarWindow* in = nullptr;
    uint64_t reach = spec_.size;
    for (const BarWindow* w : {&table_, &pba_}) {
      if (w->empty()) continue;
      if (w->contains(off)) {
        in = w;
        reach = w->end();
        break;
      }
      if (w->offset > off) reach = std::min(reach, w->offset);
    }
    const size_t avail = static_cast<size_t>(std::min<uint64_t>(left, reach - off));
    if (in == nullptr && mem_.valid()) {
      // Memory-backed: plain copies, like the driver's own mapping of it.
      if (write) {
        std::memcpy(mem_.bytes() + off, p + done, avail);
      } else {
        std::memcpy(p + done, mem_.bytes() + off, avail);
      }
      done += avail;
      continue;
    }
    const unsigned n = access_width(off, avail);
    uint64_t v = 0;
    if (write) std::memcpy(&v, p + done, n);  // little-endian, as the PCI bus
    if (in == &table_) {
      if (write) {
        msix->table_write(off - table_.offset, n, v);
      } else {
        v = msix->table_read(off - table_.offset, n);
      }
    } else if (in == &pba_) {
      if (!write) v = msix->pba_read(off - pba_.offset, n);  // PBA writes are ignored
    } else if (write) {
      model.mmio_write(index_, off, n, v);
    } else {
      v = model.mmio_read(index_, off, n);
    }
    if (!write) std::memcpy(p + done, &v, n);
    done += n;
  }
  return static_cast<ssize_t>(done);
}

void* BarRegion::mmap(size_t length, int prot, uint64_t pos) const {
  const uint64_t page = page_size();
  auto fail = [](int e) { return reinterpret_cast<void*>(-static_cast<intptr_t>(e)); };
  // mmap(2)'s own checks come first: a length and a page-aligned offset.
  if (length == 0 || pos % page != 0) return fail(EINVAL);
  if (!spec_.memory_backed) return fail(EINVAL);  // !bar_mmap_supported
  const uint64_t req_len = round_up(length, page);
  const uint64_t phys_len = round_up(spec_.size, page);
  if (req_len < length || pos > phys_len || req_len > phys_len - pos) return fail(EINVAL);
  for (const BarWindow& x : excluded_pages()) {
    if (pos < x.end() && x.offset < pos + req_len) return fail(EINVAL);  // the MSI-X pages
  }
  void* p = ::mmap(nullptr, req_len, prot, MAP_SHARED, memfd_.get(), static_cast<off_t>(pos));
  if (p == MAP_FAILED) return fail(errno);
  return p;
}

}  // namespace uvfio::pci
