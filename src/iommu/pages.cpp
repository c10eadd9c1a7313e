#include "iommu/pages.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>

#include <vector>
#include "uvfio/base/fault_injection.h"

namespace uvfio::iommu {
namespace {

// The kernel pins process memory and fails with EFAULT if any page is not mapped; mincore()
// answers ENOMEM for such a range, which we turn into the same EFAULT.
int check_process_memory(const std::byte* addr, uint64_t length) {
  uint64_t page = MemlockAccount::host_page_size();
  auto start = reinterpret_cast<uintptr_t>(addr) & ~(page - 1);
  uint64_t span = reinterpret_cast<uintptr_t>(addr) + length - start;
  std::vector<unsigned char> vec((span + page - 1) / page);
  if (fault::should_fail("pages: mincore")) return EFAULT;
  if (::mincore(reinterpret_cast<void*>(start), span, vec.data()) != 0) return EFAULT;
  return 0;
}

}  // namespace

Result<std::shared_ptr<Pages>> Pages::create(const MemorySource& src, bool writable,
                                             std::shared_ptr<MemlockAccount> account) {
  const uint64_t hp = MemlockAccount::host_page_size();
  if (fault::should_fail("pages: alloc")) return Errno{ENOMEM};
  std::shared_ptr<Pages> p(new Pages);
  p->length_ = src.length();
  p->writable_ = writable;
  uint64_t key_offset = 0;  // where the source's first byte is in the key's page numbering
  if (src.is_remote()) {
    // Nothing of it is in this process, so nothing is pinned or charged.
    p->remote_ = src.remote();
    return p;
  }
  if (src.is_file()) {
    struct stat st {};
    if (fault::should_fail("pages: fstat")) return Errno{EBADF};
    if (::fstat(src.fd(), &st) != 0) return Errno{errno};
    // Pages past the end of a file (a memfd too) are not memory: a device touching them would
    // raise SIGBUS in whoever performs the DMA. Refuse the window up front, as pinning would.
    if (S_ISREG(st.st_mode)) {
      const auto size = static_cast<uint64_t>(st.st_size);
      if (src.offset() > size || src.length() > size - src.offset()) return Errno{EFAULT};
    }
    uint64_t aligned = src.offset() & ~(hp - 1);
    uint64_t lead = src.offset() - aligned;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    if (fault::should_fail("pages: mmap")) return Errno{ENOMEM};
    auto m = Mapping::map(lead + src.length(), prot, MAP_SHARED, src.fd(), aligned);
    if (!m) return Errno{m.error()};
    p->mapping_ = std::move(*m);
    p->base_ = p->mapping_.bytes() + lead;
    p->key_ = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
    key_offset = src.offset();
  } else {
    p->base_ = static_cast<std::byte*>(src.addr());
    if (int err = check_process_memory(p->base_, src.length())) return Errno{err};
    key_offset = reinterpret_cast<uintptr_t>(src.addr());
  }
  p->first_page_ = key_offset / hp;
  p->last_page_ = (key_offset + src.length() - 1) / hp;
  if (auto r = account->charge(p->key_, p->first_page_, p->last_page_); !r) return Errno{r.error()};
  p->account_ = std::move(account);
  return p;
}

Pages::~Pages() {
  if (account_) account_->uncharge(key_, first_page_, last_page_);
}

}  // namespace uvfio::iommu
