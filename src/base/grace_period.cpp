#include "base/grace_period.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace uvfio {
namespace grace_detail {
namespace {

bool init_membarrier() {
  long cmds = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return false;
  return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

// Registry of reader slots. Leaked on purpose: thread_local slots of threads that outlive
// static destruction still unregister from it.
struct Registry {
  std::mutex mu;  // guards slots; also serializes writers' grace periods
  std::vector<ReaderSlot*> slots;
};
Registry& registry() {
  static auto* r = new Registry;
  return *r;
}

}  // namespace

std::atomic<uint64_t> g_epoch{1};
bool g_use_membarrier = init_membarrier();

namespace {

// Unregisters the thread's slot when the thread exits.
struct SlotGuard {
  ReaderSlot* slot = nullptr;
  ~SlotGuard() {
    if (slot == nullptr) return;
    Registry& r = registry();
    std::lock_guard lk(r.mu);
    r.slots.erase(std::remove(r.slots.begin(), r.slots.end(), slot), r.slots.end());
    slot->registered = false;
  }
};
thread_local SlotGuard tl_guard;

}  // namespace

void register_slot(ReaderSlot* slot) {
  Registry& r = registry();
  std::lock_guard lk(r.mu);
  r.slots.push_back(slot);
  slot->registered = true;
  tl_guard.slot = slot;
}

}  // namespace grace_detail

void synchronize_readers() {
  using namespace grace_detail;
  if (in_read_section()) std::abort();  // a writer waiting for itself would never return
  Registry& r = registry();
  std::lock_guard lk(r.mu);
  uint64_t target = g_epoch.fetch_add(1, std::memory_order_seq_cst) + 1;
  if (g_use_membarrier) ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  for (ReaderSlot* s : r.slots) {
    for (unsigned spins = 0;; ++spins) {
      uint64_t e = s->epoch.load(std::memory_order_acquire);
      if (e == 0 || e >= target) break;
      if (spins > 64) std::this_thread::yield();
    }
  }
}

}  // namespace uvfio
