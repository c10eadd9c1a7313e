// Read sections and grace periods: user-space RCU for read-mostly structures.
//
// A device thread brackets lock-free reads of a shared structure with a ReadSection; a writer
// that has unlinked an object calls synchronize_readers() before freeing it, which returns once
// every read section that could still see the object has ended. Readers pay two thread-local
// stores per section: the writer pays for ordering with membarrier(2) (a full barrier on every
// running thread of this process), falling back to sequentially consistent read-side stores
// where membarrier is unavailable.
#pragma once

#include <atomic>
#include <cstdint>

namespace uvfio {

namespace grace_detail {

// Trivially destructible, so that the hot path reaches it without a TLS wrapper call; a
// separate thread-local guard (touched only when registering) unregisters it at thread exit.
struct ReaderSlot {
  std::atomic<uint64_t> epoch{0};  // 0: outside any read section; else the epoch it began in
  uint32_t depth = 0;              // nesting; touched only by the owning thread
  bool registered = false;
};

extern std::atomic<uint64_t> g_epoch;
extern bool g_use_membarrier;
void register_slot(ReaderSlot* slot);

inline thread_local ReaderSlot tl_slot;

}  // namespace grace_detail

/// Begins a read section (nestable, wait-free). Objects reachable when it began stay alive until
/// it ends. Must not call synchronize_readers() inside one.
inline void read_section_enter() {
  using namespace grace_detail;
  ReaderSlot& s = tl_slot;
  if (s.depth++ != 0) return;
  if (!s.registered) register_slot(&s);
  uint64_t e = g_epoch.load(std::memory_order_relaxed);
  if (g_use_membarrier) {
    s.epoch.store(e, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the writer's membarrier orders us
  } else {
    s.epoch.exchange(e, std::memory_order_seq_cst);
  }
}

inline void read_section_exit() {
  using namespace grace_detail;
  ReaderSlot& s = tl_slot;
  if (--s.depth == 0) s.epoch.store(0, std::memory_order_release);
}

/// RAII read section.
class ReadSection {
 public:
  ReadSection() { read_section_enter(); }
  ~ReadSection() { read_section_exit(); }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;
};

/// Waits until every read section that began before this call has ended. Call after unlinking an
/// object and before freeing it. Not from inside a read section (that would wait forever).
void synchronize_readers();

/// True when the calling thread is inside a read section (for assertions).
inline bool in_read_section() {
  return grace_detail::tl_slot.depth != 0;
}

}  // namespace uvfio
