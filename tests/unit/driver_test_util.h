// Helpers shared by the driver API's unit tests: catching a driver::Error, and naming the IOMMU
// paths the emulated transport is parameterized over.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "driver/vfio_open.h"
#include "uvfio/base/errno_name.h"
#include "uvfio/driver/driver.h"

namespace uvfio::test {

/// Runs `fn` and returns the driver::Error it throws (fails the test if it does not).
template <class Fn>
driver::Error error_of(Fn&& fn) {
  try {
    fn();
  } catch (const driver::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no driver::Error thrown";
  return {"none", "", EINVAL};
}

/// The IOMMU path's name, as used in emu: targets' iommu= option.
inline const char* mode_name(driver::detail::IommuMode m) {
  switch (m) {
    case driver::detail::IommuMode::kIommufd:
      return "iommufd";
    case driver::detail::IommuMode::kType1:
      return "type1";
    case driver::detail::IommuMode::kNoIommu:
      return "noiommu";
  }
  return "?";
}

/// INSTANTIATE_TEST_SUITE_P's name generator for suites parameterized by the IOMMU path.
inline std::string mode_param_name(const ::testing::TestParamInfo<driver::detail::IommuMode>& p) {
  return mode_name(p.param);
}

}  // namespace uvfio::test

/// Expects `stmt` to throw a driver::Error with errno `err` and `text` in its message.
#define EXPECT_DRIVER_ERROR(stmt, err, text)                                           \
  do {                                                                                 \
    const ::uvfio::driver::Error e_ = ::uvfio::test::error_of([&] { stmt; });          \
    EXPECT_EQ(::uvfio::errno_name(e_.error()), ::uvfio::errno_name(err)) << e_.what(); \
    EXPECT_NE(std::string(e_.what()).find(text), std::string::npos) << e_.what();      \
  } while (0)
