#include "base/bus_error_guard.h"

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>

namespace uvfio {
namespace {

// The copy in progress on this thread, if any. initial-exec: the handler must not be the first
// to touch it (a dynamic TLS access could allocate). volatile: memcpy is known not to read it,
// so the compiler would otherwise drop the store before the copy as dead.
__attribute__((tls_model("initial-exec"))) thread_local sigjmp_buf* volatile t_guard = nullptr;

void on_sigbus(int sig, siginfo_t* /*info*/, void* /*ctx*/) {
  if (sigjmp_buf* g = t_guard) siglongjmp(*g, 1);
  // Not ours: die as SIGBUS would have made us, with the default action.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  // Returning re-executes the faulting access, which now takes the default action.
}

void install() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sigemptyset(&sa.sa_mask);
  // NODEFER: the jump leaves the handler without sigreturn, so SIGBUS must not stay blocked (a
  // synchronous signal that is blocked kills the process outright).
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGBUS, &sa, nullptr);
}

}  // namespace

bool guarded_memcpy(void* dst, const void* src, size_t n) {
  static std::once_flag once;
  std::call_once(once, install);
  sigjmp_buf jb;
  // savemask 0: no sigprocmask syscall per copy; SA_NODEFER leaves the mask untouched anyway.
  if (sigsetjmp(jb, 0) != 0) {
    t_guard = nullptr;
    return false;
  }
  t_guard = &jb;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memcpy(dst, src, n);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_guard = nullptr;
  return true;
}

}  // namespace uvfio
