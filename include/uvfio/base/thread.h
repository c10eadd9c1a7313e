// Thread: a named std::jthread; joined on destruction (RAII), stop requested first.
#pragma once

#include <stop_token>
#include <string>
#include <thread>
#include <utility>

namespace uvfio {

/// Owns a thread. Destruction requests stop and joins. Move-only.
class Thread {
 public:
  Thread() = default;
  /// Starts `fn(std::stop_token)` on a new thread named `name` (max 15 chars shown by the OS).
  template <class Fn>
  Thread(std::string name, Fn&& fn)
      : t_([n = std::move(name), f = std::forward<Fn>(fn)](std::stop_token st) mutable {
          set_current_name(n);
          f(st);
        }) {}
  Thread(Thread&&) noexcept = default;
  Thread& operator=(Thread&&) noexcept = default;
  ~Thread() = default;  // jthread: request_stop() + join()

  bool joinable() const { return t_.joinable(); }
  void request_stop() { t_.request_stop(); }
  void join() {
    if (t_.joinable()) t_.join();
  }
  static void set_current_name(const std::string& name);

 private:
  std::jthread t_;
};

}  // namespace uvfio
