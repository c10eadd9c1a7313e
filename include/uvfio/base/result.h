// Result<T>: a value or a positive errno, the currency of every uvfio call that can fail.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace uvfio {

/// A failed call's errno (positive, as in <errno.h>).
struct Errno {
  int value;
};

/// A T or an errno. The device side returns errno exactly as the kernel would, so errors are
/// plain errno values here; the driver-side API wraps them with the operation and the target.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Errno e) : v_(e) { assert(e.value > 0); }  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  /// The errno, or 0 when the call succeeded.
  int error() const { return ok() ? 0 : std::get<1>(v_).value; }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Errno> v_;
};

/// Result of a call with no value: 0 on success or a positive errno.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Errno e) : err_(e.value) { assert(e.value > 0); }  // NOLINT(google-explicit-constructor)
  bool ok() const { return err_ == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return err_; }

 private:
  int err_ = 0;
};

}  // namespace uvfio
