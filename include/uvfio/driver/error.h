// driver::Error: how every driver-API call reports failure. The message names the operation, the
// target and the errno: "VFIO_DEVICE_SET_IRQS on emu:edu: EINVAL (Invalid argument)".
#pragma once

#include <stdexcept>
#include <string>

namespace uvfio::driver {

/// The exception every driver-API call throws on failure (the API throws nothing else, except
/// std::bad_alloc). Immutable; safe to copy between threads.
///
/// what() is "<op> on <target>: <ENAME> (<description>)" followed by ": <detail>" when the
/// library knows more than the errno says. Without a target (a DmaBuffer allocation) the
/// " on <target>" part is left out.
class Error : public std::runtime_error {
 public:
  Error(std::string op, std::string target, int err, std::string detail = {});

  /// The operation: an ioctl's name ("VFIO_DEVICE_SET_IRQS"), a system call with its argument
  /// ("open(/dev/iommu)"), or a library step ("read BAR0+0x4 (4 bytes)").
  const std::string& op() const { return op_; }
  /// The target the device was opened with ("emu:edu,iommu=type1"); empty if none.
  const std::string& target() const { return target_; }
  /// The positive errno.
  int error() const { return err_; }
  /// Extra explanation (may be empty).
  const std::string& detail() const { return detail_; }

 private:
  std::string op_;
  std::string target_;
  int err_;
  std::string detail_;
};

}  // namespace uvfio::driver
