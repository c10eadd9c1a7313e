// MsixTable: entries, Vector Control masks and the Pending Bit Array, with delivery outside the
// lock so a deliver callback may call back into the table.
#include "pci/msix_table.h"

#include <utility>

namespace uvfio::pci {

namespace {

constexpr uint32_t kMaskBit = 1;  // PCI_MSIX_ENTRY_CTRL_MASKBIT
constexpr uint64_t kEntryBytes = 16;

/// A 4- or 8-byte access, naturally aligned and inside `limit` bytes.
bool valid_access(uint64_t offset, unsigned size, uint64_t limit) {
  if (size != 4 && size != 8) return false;
  if (offset % size != 0) return false;
  return offset < limit && size <= limit - offset;
}

}  // namespace

MsixTable::MsixTable(unsigned vectors, std::function<void(unsigned)> deliver,
                     std::function<bool()> function_masked)
    : vectors_(vectors),
      deliver_(std::move(deliver)),
      function_masked_(std::move(function_masked)),
      entries_(vectors),
      pba_((uint64_t{vectors} + 63) / 64) {}

uint64_t MsixTable::table_read(uint64_t offset, unsigned size) {
  if (!valid_access(offset, size, table_bytes())) return 0;
  std::lock_guard lock(mu_);
  auto dword = [&](uint64_t off) -> uint32_t {
    const Entry& e = entries_[off / kEntryBytes];
    switch (off % kEntryBytes) {
      case 0:
        return static_cast<uint32_t>(e.address);
      case 4:
        return static_cast<uint32_t>(e.address >> 32);
      case 8:
        return e.data;
      default:
        return e.control;
    }
  };
  if (size == 4) return dword(offset);
  return uint64_t{dword(offset)} | uint64_t{dword(offset + 4)} << 32;
}

void MsixTable::table_write(uint64_t offset, unsigned size, uint64_t value) {
  if (!valid_access(offset, size, table_bytes())) return;
  const auto v = static_cast<unsigned>(offset / kEntryBytes);
  bool deliver = false;
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_[v];
    auto put = [&](uint64_t off, uint32_t val) {
      switch (off % kEntryBytes) {
        case 0:
          e.address = (e.address & ~uint64_t{0xffffffff}) | val;
          break;
        case 4:
          e.address = (e.address & 0xffffffff) | uint64_t{val} << 32;
          break;
        case 8:
          e.data = val;
          break;
        default:
          // Only the mask bit is implemented; the rest of Vector Control is reserved (reads 0).
          e.control = val & kMaskBit;
          break;
      }
    };
    const bool was_masked = (e.control & kMaskBit) != 0;
    put(offset, static_cast<uint32_t>(value));
    if (size == 8) put(offset + 4, static_cast<uint32_t>(value >> 32));
    // Unmasking a vector with its pending bit set sends the message (PCI 3.0 6.8.3.4).
    if (was_masked && (e.control & kMaskBit) == 0) {
      uint64_t& word = pba_[v / 64];
      const uint64_t bit = uint64_t{1} << (v % 64);
      if ((word & bit) != 0 && !function_masked_()) {
        word &= ~bit;
        deliver = true;
      }
    }
  }
  if (deliver) deliver_(v);
}

uint64_t MsixTable::pba_read(uint64_t offset, unsigned size) {
  if (!valid_access(offset, size, pba_bytes())) return 0;
  std::lock_guard lock(mu_);
  const uint64_t word = pba_[offset / 8];
  if (size == 8) return word;
  return (offset % 8 == 0) ? word & 0xffffffff : word >> 32;
}

void MsixTable::signal(unsigned v) {
  if (v >= vectors_) return;
  {
    std::lock_guard lock(mu_);
    // The function mask is read under the table lock so a concurrent unmask_check() either sees
    // this pending bit or this signal sees the mask already cleared: nothing is lost.
    if ((entries_[v].control & kMaskBit) != 0 || function_masked_()) {
      pba_[v / 64] |= uint64_t{1} << (v % 64);
      return;
    }
  }
  deliver_(v);
}

void MsixTable::unmask_check() {
  std::vector<unsigned> due;
  {
    std::lock_guard lock(mu_);
    if (function_masked_()) return;
    for (unsigned v = 0; v < vectors_; ++v) {
      uint64_t& word = pba_[v / 64];
      const uint64_t bit = uint64_t{1} << (v % 64);
      if ((word & bit) != 0 && (entries_[v].control & kMaskBit) == 0) {
        word &= ~bit;
        due.push_back(v);
      }
    }
  }
  for (unsigned v : due) deliver_(v);
}

bool MsixTable::masked(unsigned v) const {
  if (v >= vectors_) return true;
  std::lock_guard lock(mu_);
  return (entries_[v].control & kMaskBit) != 0;
}

bool MsixTable::pending(unsigned v) const {
  if (v >= vectors_) return false;
  std::lock_guard lock(mu_);
  return ((pba_[v / 64] >> (v % 64)) & 1) != 0;
}

void MsixTable::reset() {
  std::lock_guard lock(mu_);
  for (Entry& e : entries_) e = Entry{};
  for (uint64_t& w : pba_) w = 0;
}

}  // namespace uvfio::pci
