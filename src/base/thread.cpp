#include "uvfio/base/thread.h"

#include <pthread.h>

namespace uvfio {

void Thread::set_current_name(const std::string& name) {
  // The kernel keeps 15 characters plus NUL.
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace uvfio
