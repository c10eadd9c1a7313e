// Helpers shared by the unit tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "uvfio/base/errno_name.h"
#include "uvfio/base/mapping.h"
#include "uvfio/iommu/ioas.h"

namespace uvfio::test {

/// Page-aligned anonymous memory filled with a recognisable pattern.
struct Buffer {
  explicit Buffer(size_t size, uint8_t seed = 0) : map(std::move(*Mapping::anonymous(size))) {
    for (size_t i = 0; i < size; ++i) bytes()[i] = static_cast<uint8_t>(seed + i * 7);
  }
  uint8_t* bytes() const { return reinterpret_cast<uint8_t*>(map.data()); }
  void* data() const { return map.data(); }
  size_t size() const { return map.size(); }
  iommu::MemorySource source() const { return iommu::MemorySource::process(data(), size()); }
  iommu::MemorySource source(size_t off, size_t len) const {
    return iommu::MemorySource::process(bytes() + off, len);
  }
  Mapping map;
};

inline std::shared_ptr<iommu::Ioas> make_ioas(uint64_t page_size = 4096,
                                              uint64_t limit = iommu::MemlockAccount::kUnlimited,
                                              uint32_t max_areas = 65535) {
  return *iommu::Ioas::create({.page_size = page_size,
                               .account = iommu::MemlockAccount::create(limit),
                               .max_areas = max_areas});
}

inline constexpr uint32_t kRW = iommu::kMapRead | iommu::kMapWrite;
inline constexpr uint32_t kFixedRW = kRW | iommu::kMapFixedIova;

/// An ioctl-style result (>= 0 or -errno) as text: "EBUSY", "0", "3".
inline std::string rc_name(long rc) {
  return rc < 0 ? errno_name(static_cast<int>(-rc)) : std::to_string(rc);
}

}  // namespace uvfio::test

/// Compares ioctl-style results (>= 0 or -errno) by errno name; `err` is the positive errno.
#define EXPECT_RC(expr, err) \
  EXPECT_EQ(::uvfio::test::rc_name(expr), ::uvfio::test::rc_name(-(err))) << #expr
#define ASSERT_RC(expr, err) \
  ASSERT_EQ(::uvfio::test::rc_name(expr), ::uvfio::test::rc_name(-(err))) << #expr

/// Asserts a Result failed with the given errno, printing names ("EEXIST") on mismatch.
#define EXPECT_ERRNO(expr, err)                                                    \
  do {                                                                             \
    auto&& r_ = (expr);                                                            \
    EXPECT_EQ(::uvfio::errno_name(r_.error()), ::uvfio::errno_name(err)) << #expr; \
  } while (0)
#define ASSERT_OK(expr)                                                              \
  do {                                                                               \
    auto&& r_ = (expr);                                                              \
    ASSERT_TRUE(r_.ok()) << #expr << " failed: " << ::uvfio::errno_name(r_.error()); \
  } while (0)
