#include "uvfio/driver/error.h"

#include <utility>

#include "uvfio/base/errno_name.h"

namespace uvfio::driver {
namespace {

std::string format(const std::string& op, const std::string& target, int err,
                   const std::string& detail) {
  std::string s = op;
  if (!target.empty()) s += " on " + target;
  s += ": " + errno_describe(err);
  if (!detail.empty()) s += ": " + detail;
  return s;
}

}  // namespace

Error::Error(std::string op, std::string target, int err, std::string detail)
    : std::runtime_error(format(op, target, err, detail)),
      op_(std::move(op)),
      target_(std::move(target)),
      err_(err),
      detail_(std::move(detail)) {}

}  // namespace uvfio::driver
