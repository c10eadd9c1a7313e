// /dev/iommu: main.c's dispatch rules, the IOAS ioctls with the kernel's errno, IOMMU_DESTROY
// refused while in use, IOMMU_OPTION, IOMMU_VFIO_IOAS, the type1 compatibility ioctls (and how
// their errno differ from a type1 container), and the access object API — Linux 6.12.
#include <gtest/gtest.h>
#include <linux/vfio.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "iommufd/iommufd_context.h"
#include "test_util.h"
#include "uvfio/uapi/iommufd.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"

using namespace uvfio;
using namespace uvfio::vfio;
using namespace uvfio::uapi;
using uvfio::test::Buffer;

namespace {

struct Iommufd : ::testing::Test {
  explicit Iommufd(Credentials creds = Credentials::privileged())
      : host(std::make_shared<Host>()), sys(host, creds) {
    fd = sys.open("/dev/iommu", 2);
  }
  std::shared_ptr<IommufdContext> ctx() {
    return std::dynamic_pointer_cast<IommufdContext>(sys.fds().get(fd));
  }
  long io(unsigned long req, void* arg) {
    return sys.ioctl(fd, req, reinterpret_cast<unsigned long>(arg));
  }
  long io(unsigned long req, unsigned long arg) { return sys.ioctl(fd, req, arg); }

  uint32_t alloc_ioas() {
    iommu_ioas_alloc a{sizeof a, 0, 0};
    EXPECT_EQ(io(IOMMU_IOAS_ALLOC, &a), 0);
    return a.out_ioas_id;
  }
  long map(uint32_t ioas, const void* va, uint64_t len, uint64_t iova,
           uint32_t flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
                            IOMMU_IOAS_MAP_WRITEABLE) {
    iommu_ioas_map m{sizeof m, flags, ioas, 0, reinterpret_cast<uint64_t>(va), len, iova};
    long r = io(IOMMU_IOAS_MAP, &m);
    last_iova = m.iova;
    return r;
  }
  long unmap(uint32_t ioas, uint64_t iova, uint64_t len, uint64_t* out = nullptr) {
    iommu_ioas_unmap u{sizeof u, ioas, iova, len};
    long r = io(IOMMU_IOAS_UNMAP, &u);
    if (out) *out = u.length;
    return r;
  }
  long destroy(uint32_t id) {
    iommu_destroy d{sizeof d, id};
    return io(IOMMU_DESTROY, &d);
  }
  long set_compat(uint32_t ioas) {
    iommu_vfio_ioas v{sizeof v, ioas, IOMMU_VFIO_IOAS_SET, 0};
    return io(IOMMU_VFIO_IOAS, &v);
  }
  std::vector<iommu::AreaInfo> areas(uint32_t ioas) { return ctx()->ioas(ioas)->areas(); }

  std::shared_ptr<Host> host;
  EmulatedSystem sys;
  int fd = -1;
  uint64_t last_iova = 0;
  Buffer buf{1 << 20, 7};
};

struct IommufdUnprivileged : Iommufd {
  IommufdUnprivileged() : Iommufd(Credentials{}) {}
};

}  // namespace

// ------------------------------------------------------------------------ dispatch

TEST_F(Iommufd, DispatchNumbersAndSizes) {
  ASSERT_GE(fd, 0);
  // A null buffer faults reading `size` before anything else, even for a mismatched number.
  EXPECT_RC(io(IOMMU_IOAS_ALLOC, nullptr), EFAULT);
  EXPECT_RC(io(_IO('x', 0x85), nullptr), EFAULT);
  // nr in the IOMMU range but another type/size: ENOTTY.
  iommu_ioas_alloc a{sizeof a, 0, 0};
  EXPECT_RC(io(_IO('x', 0x81), &a), ENOTTY);
  EXPECT_RC(io(_IOWR(';', 0x81, iommu_ioas_alloc), &a), ENOTTY);
  // Below IOMMUFD_CMD_BASE or past the last command: the VFIO compat ioctls (ENOTTY there).
  EXPECT_RC(io(_IO(';', 0x7f), &a), ENOTTY);
  EXPECT_RC(io(_IO(';', 0x8f), &a), ENOTTY);
  EXPECT_RC(io(_IO(';', 0xa0), &a), ENOTTY);  // IOMMU_TEST_CMD: no CONFIG_IOMMUFD_TEST
  // size below min_size (offsetofend of the last mandatory field).
  a.size = 8;
  EXPECT_RC(io(IOMMU_IOAS_ALLOC, &a), EINVAL);
  // Longer than the kernel's struct: the tail must be zero (E2BIG), else accepted.
  struct {
    iommu_ioas_alloc a;
    uint32_t tail[3];
  } big{{sizeof big, 0, 0}, {0, 0, 1}};
  EXPECT_RC(io(IOMMU_IOAS_ALLOC, &big), E2BIG);
  big.tail[2] = 0;
  EXPECT_RC(io(IOMMU_IOAS_ALLOC, &big), 0);
  EXPECT_EQ(big.a.out_ioas_id, 1u);
  // Responses copy min(user size, struct size): the tail stays as the user left it.
  EXPECT_EQ(big.tail[0], 0u);
}

TEST_F(Iommufd, IdsStartAtOneAndAreReused) {
  EXPECT_EQ(alloc_ioas(), 1u);
  EXPECT_EQ(alloc_ioas(), 2u);
  EXPECT_EQ(alloc_ioas(), 3u);
  EXPECT_RC(destroy(2), 0);
  EXPECT_RC(destroy(2), ENOENT);
  EXPECT_RC(destroy(0), ENOENT);
  EXPECT_EQ(alloc_ioas(), 2u);  // xa_alloc: lowest free id
  EXPECT_EQ(alloc_ioas(), 4u);
  iommu_ioas_alloc a{sizeof a, 1, 0};
  EXPECT_RC(io(IOMMU_IOAS_ALLOC, &a), EOPNOTSUPP);
}

// ------------------------------------------------------------------------ IOAS ioctls

TEST_F(Iommufd, IovaRangesAndEmsgsize) {
  uint32_t id = alloc_ioas();
  iommu_iova_range r[2] = {};
  iommu_ioas_iova_ranges q{sizeof q, id, 2, 0, reinterpret_cast<uint64_t>(r), 0};
  EXPECT_RC(io(IOMMU_IOAS_IOVA_RANGES, &q), 0);
  EXPECT_EQ(q.num_iovas, 1u);
  EXPECT_EQ(r[0].start, 0u);
  EXPECT_EQ(r[0].last, UINT64_MAX);
  EXPECT_EQ(q.out_iova_alignment, 4096u);  // what the uvfio IOAS enforces (kernel: 1, no domain)
  // An array too small: EMSGSIZE, with the true count (and the struct) written back.
  iommu_ioas_iova_ranges q0{sizeof q0, id, 0, 0, 0, 0};
  EXPECT_RC(io(IOMMU_IOAS_IOVA_RANGES, &q0), EMSGSIZE);
  EXPECT_EQ(q0.num_iovas, 1u);
  EXPECT_EQ(q0.out_iova_alignment, 4096u);
  // A null array with room for one faults.
  iommu_ioas_iova_ranges qn{sizeof qn, id, 1, 0, 0, 0};
  EXPECT_RC(io(IOMMU_IOAS_IOVA_RANGES, &qn), EFAULT);
  q.__reserved = 1;
  EXPECT_RC(io(IOMMU_IOAS_IOVA_RANGES, &q), EOPNOTSUPP);
  q.__reserved = 0;
  q.ioas_id = 99;
  EXPECT_RC(io(IOMMU_IOAS_IOVA_RANGES, &q), ENOENT);
}

TEST_F(Iommufd, AllowIovas) {
  uint32_t id = alloc_ioas();
  iommu_iova_range r[2] = {{0x100000, 0x1fffff}, {0x180000, 0x2fffff}};
  iommu_ioas_allow_iovas a{sizeof a, id, 2, 0, reinterpret_cast<uint64_t>(r)};
  EXPECT_RC(io(IOMMU_IOAS_ALLOW_IOVAS, &a), EINVAL);  // overlap
  r[1] = {0x300000, 0x300000};
  EXPECT_RC(io(IOMMU_IOAS_ALLOW_IOVAS, &a), EINVAL);  // start >= last
  r[1] = {0x400000, 0x4fffff};
  EXPECT_RC(io(IOMMU_IOAS_ALLOW_IOVAS, &a), 0);
  // Chosen IOVAs now come from the allowed ranges.
  EXPECT_RC(map(id, buf.data(), 0x10000, 0, IOMMU_IOAS_MAP_READABLE), 0);
  EXPECT_GE(last_iova, 0x100000u);
  EXPECT_LE(last_iova + 0xffff, 0x1fffffu);
  // Fixed IOVAs are not restricted by them.
  EXPECT_RC(map(id, buf.data(), 0x1000, 0x800000), 0);
  a.allowed_iovas = 0;
  EXPECT_RC(io(IOMMU_IOAS_ALLOW_IOVAS, &a), EFAULT);
  a.num_iovas = 0;  // empty list: everything allowed again
  EXPECT_RC(io(IOMMU_IOAS_ALLOW_IOVAS, &a), 0);
  a.__reserved = 1;
  EXPECT_RC(io(IOMMU_IOAS_ALLOW_IOVAS, &a), EOPNOTSUPP);
  a.__reserved = 0;
  a.ioas_id = 42;
  EXPECT_RC(io(IOMMU_IOAS_ALLOW_IOVAS, &a), ENOENT);
}

TEST_F(Iommufd, MapValidationOrder) {
  uint32_t id = alloc_ioas();
  const uint32_t rw = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  const uint32_t fixed = rw | IOMMU_IOAS_MAP_FIXED_IOVA;
  EXPECT_RC(map(id, buf.data(), 0x1000, 0x10000, fixed | 8), EOPNOTSUPP);
  iommu_ioas_map m{sizeof m, fixed, id, 1, reinterpret_cast<uint64_t>(buf.data()), 0x1000, 0};
  EXPECT_RC(io(IOMMU_IOAS_MAP, &m), EOPNOTSUPP);  // __reserved
  EXPECT_RC(map(id, buf.data(), 0x1000, UINT64_MAX, fixed), EOVERFLOW);
  EXPECT_RC(map(id, buf.data(), UINT64_MAX, 0x10000, fixed), EOVERFLOW);
  EXPECT_RC(map(id, buf.data(), 0x1000, 0x10000, IOMMU_IOAS_MAP_FIXED_IOVA), EINVAL);
  EXPECT_RC(map(77, buf.data(), 0x1000, 0x10000, fixed), ENOENT);  // after the flag checks
  EXPECT_RC(map(77, buf.data(), 0x1000, 0x10000, 0), EINVAL);
  EXPECT_RC(map(id, buf.data(), 0, 0x10000, fixed), EINVAL);
  EXPECT_RC(map(id, buf.data(), 0x1000, 0x10800, fixed), EINVAL);                // unaligned IOVA
  EXPECT_RC(map(id, buf.data(), 0x2000, UINT64_MAX - 0xfff, fixed), EOVERFLOW);  // wraps
  EXPECT_RC(map(id, buf.data(), 0x4000, 0x10000, fixed), 0);
  EXPECT_EQ(last_iova, 0x10000u);
  EXPECT_RC(map(id, buf.data(), 0x1000, 0x12000, fixed), EEXIST);
  // Kernel-chosen IOVA: never page 0, returned in iova.
  EXPECT_RC(map(id, buf.bytes() + 0x10000, 0x2000, 0, rw), 0);
  EXPECT_NE(last_iova, 0u);
  EXPECT_EQ(last_iova % 4096, 0u);
  EXPECT_EQ(areas(id).size(), 2u);
}

TEST_F(Iommufd, CopyValidationOrder) {
  uint32_t src = alloc_ioas(), dst = alloc_ioas();
  const uint32_t fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE;
  ASSERT_RC(map(src, buf.data(), 0x4000, 0x10000, fixed), 0);
  ASSERT_RC(map(src, buf.bytes() + 0x4000, 0x4000, 0x14000, fixed), 0);  // adjacent, read-only
  auto copy = [&](uint32_t s, uint32_t d, uint64_t siova, uint64_t len, uint64_t diova,
                  uint32_t flags, uint64_t* out = nullptr) {
    iommu_ioas_copy c{sizeof c, flags, d, s, len, diova, siova};
    long r = io(IOMMU_IOAS_COPY, &c);
    if (out) *out = c.dst_iova;
    return r;
  };
  EXPECT_RC(copy(src, dst, 0x10000, 0x1000, 0x1000, fixed | 16), EOPNOTSUPP);
  EXPECT_RC(copy(src, dst, UINT64_MAX, 0x1000, 0x1000, fixed), EOVERFLOW);
  EXPECT_RC(copy(src, dst, 0x10000, 0x1000, 0x1000, IOMMU_IOAS_MAP_FIXED_IOVA), EINVAL);
  EXPECT_RC(copy(9, dst, 0x10000, 0x1000, 0x1000, fixed), ENOENT);
  // Source problems come before an unknown destination.
  EXPECT_RC(copy(src, 9, 0x10000, 0, 0x1000, fixed), EINVAL);
  EXPECT_RC(copy(src, 9, 0x20000, 0x1000, 0x1000, fixed), ENOENT);
  EXPECT_RC(copy(src, 9, 0x10000, 0x1000, 0x1000, fixed), ENOENT);
  // Across both source areas into one destination range.
  uint64_t out = 0;
  EXPECT_RC(copy(src, dst, 0x12000, 0x4000, 0x40000, fixed, &out), 0);
  EXPECT_EQ(out, 0x40000u);
  // Write access to read-only memory: EPERM.
  EXPECT_RC(copy(src, dst, 0x10000, 0x1000, 0x50000, fixed | IOMMU_IOAS_MAP_WRITEABLE), EPERM);
  EXPECT_RC(copy(src, dst, 0x10000, 0x1000, 0x40000, fixed), EEXIST);
  EXPECT_EQ(areas(dst).size(), 2u);  // one per source slice
}

TEST_F(Iommufd, UnmapRules) {
  uint32_t id = alloc_ioas();
  uint64_t n = 0;
  EXPECT_RC(unmap(id, 0, UINT64_MAX, &n), 0);  // unmap-all of nothing succeeds
  EXPECT_EQ(n, 0u);
  EXPECT_RC(unmap(id, 0x10000, 0x1000), ENOENT);  // a range with nothing in it
  EXPECT_RC(unmap(5, 0x10000, 0x1000), ENOENT);
  ASSERT_RC(map(id, buf.data(), 0x4000, 0x10000), 0);
  ASSERT_RC(map(id, buf.data(), 0x4000, 0x20000), 0);
  EXPECT_RC(unmap(id, 0x11000, 0x1000), ENOENT);  // no splitting
  EXPECT_RC(unmap(id, 0x10000, 0), EINVAL);
  EXPECT_RC(unmap(id, UINT64_MAX, 1), EOVERFLOW);
  EXPECT_RC(unmap(id, 0x10000, UINT64_MAX), EOVERFLOW);
  // The first area goes, then the straddled one stops the walk: ENOENT, first stays gone.
  EXPECT_RC(unmap(id, 0x10000, 0x12000), ENOENT);
  EXPECT_EQ(areas(id).size(), 1u);
  EXPECT_RC(unmap(id, 0x0, 0x100000, &n), 0);
  EXPECT_EQ(n, 0x4000u);
}

TEST_F(Iommufd, DestroyRefusedWhileInUse) {
  uint32_t id = alloc_ioas();
  auto c = ctx();
  auto acc = c->access_create([](uint64_t, uint64_t) {});
  ASSERT_TRUE(acc.ok());
  EXPECT_EQ(*acc, 2u);
  EXPECT_RC(destroy(*acc), EBUSY);  // held by its driver
  ASSERT_TRUE(c->access_attach(*acc, id).ok());
  EXPECT_RC(destroy(id), EBUSY);  // an access is attached
  c->access_detach(*acc);
  EXPECT_RC(destroy(id), 0);
  c->access_destroy(*acc);
  EXPECT_EQ(c->object_count(), 0u);
}

// ------------------------------------------------------------------------ IOMMU_OPTION

TEST_F(Iommufd, OptionRlimitMode) {
  iommu_option o{sizeof o, IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 0, 0, 99};
  EXPECT_RC(io(IOMMU_OPTION, &o), 0);
  EXPECT_EQ(o.val64, 0u);  // /dev/iommu: per-user accounting
  o.object_id = 1;
  EXPECT_RC(io(IOMMU_OPTION, &o), EOPNOTSUPP);
  o.object_id = 0;
  o.__reserved = 1;
  EXPECT_RC(io(IOMMU_OPTION, &o), EOPNOTSUPP);
  o.__reserved = 0;
  o.op = 2;
  EXPECT_RC(io(IOMMU_OPTION, &o), EOPNOTSUPP);
  o.op = IOMMU_OPTION_OP_SET;
  o.val64 = 2;
  EXPECT_RC(io(IOMMU_OPTION, &o), EINVAL);
  o.val64 = 1;
  EXPECT_RC(io(IOMMU_OPTION, &o), 0);
  EXPECT_EQ(ctx()->account_mode(), IommufdContext::AccountMode::kMm);
  o = {sizeof o, IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 0, 0, 0};
  EXPECT_RC(io(IOMMU_OPTION, &o), 0);
  EXPECT_EQ(o.val64, 1u);
  alloc_ioas();
  o = {sizeof o, IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0, 0, 0};
  EXPECT_RC(io(IOMMU_OPTION, &o), EBUSY);  // objects exist
  o.option_id = 7;
  EXPECT_RC(io(IOMMU_OPTION, &o), EOPNOTSUPP);
}

TEST_F(IommufdUnprivileged, RlimitModeNeedsCapSysResource) {
  iommu_option o{sizeof o, IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0, 0, 1};
  EXPECT_RC(io(IOMMU_OPTION, &o), EPERM);
  o.op = IOMMU_OPTION_OP_GET;
  EXPECT_RC(io(IOMMU_OPTION, &o), 0);
}

TEST_F(Iommufd, OptionHugePages) {
  uint32_t id = alloc_ioas();
  iommu_option o{sizeof o, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, 0, 9, 0};
  EXPECT_RC(io(IOMMU_OPTION, &o), ENOENT);
  o.object_id = id;
  EXPECT_RC(io(IOMMU_OPTION, &o), 0);
  EXPECT_EQ(o.val64, 1u);
  o.op = IOMMU_OPTION_OP_SET;
  o.val64 = 3;
  EXPECT_RC(io(IOMMU_OPTION, &o), EINVAL);
  o.val64 = 0;
  EXPECT_RC(io(IOMMU_OPTION, &o), 0);
  o.op = IOMMU_OPTION_OP_GET;
  o.val64 = 55;
  EXPECT_RC(io(IOMMU_OPTION, &o), 0);
  EXPECT_EQ(o.val64, 0u);
  o.op = 9;
  EXPECT_RC(io(IOMMU_OPTION, &o), EOPNOTSUPP);
}

// ------------------------------------------------------------------------ IOMMU_VFIO_IOAS

TEST_F(Iommufd, VfioIoasGetSetClear) {
  iommu_vfio_ioas v{sizeof v, 0, IOMMU_VFIO_IOAS_GET, 0};
  EXPECT_RC(io(IOMMU_VFIO_IOAS, &v), ENODEV);
  EXPECT_RC(set_compat(3), ENOENT);
  uint32_t id = alloc_ioas();
  EXPECT_RC(set_compat(id), 0);
  EXPECT_RC(io(IOMMU_VFIO_IOAS, &v), 0);
  EXPECT_EQ(v.ioas_id, id);
  v.op = IOMMU_VFIO_IOAS_CLEAR;
  EXPECT_RC(io(IOMMU_VFIO_IOAS, &v), 0);
  v.op = IOMMU_VFIO_IOAS_GET;
  EXPECT_RC(io(IOMMU_VFIO_IOAS, &v), ENODEV);
  v.op = 3;
  EXPECT_RC(io(IOMMU_VFIO_IOAS, &v), EOPNOTSUPP);
  v.op = IOMMU_VFIO_IOAS_GET;
  v.__reserved = 1;
  EXPECT_RC(io(IOMMU_VFIO_IOAS, &v), EOPNOTSUPP);
  // The compat IOAS is an ordinary object: destroying it (unused) clears the compat pointer.
  EXPECT_RC(set_compat(id), 0);
  EXPECT_RC(destroy(id), 0);
  EXPECT_EQ(ctx()->compat_ioas(), nullptr);
}

TEST_F(Iommufd, CompatIoasCreateAndNoIommuMode) {
  auto c = ctx();
  EXPECT_EQ(c->compat_ioas_create(), 0);
  auto ioas = c->compat_ioas();
  ASSERT_NE(ioas, nullptr);
  EXPECT_EQ(c->compat_ioas_create(), 0);  // already there: same IOAS
  EXPECT_EQ(c->compat_ioas(), ioas);
  EXPECT_EQ(c->compat_set_no_iommu(), -EINVAL);
  EXPECT_EQ(c->object_count(), 1u);

  auto c2 = std::make_shared<IommufdContext>(*host, Credentials::privileged());
  EXPECT_EQ(c2->compat_set_no_iommu(), 0);
  EXPECT_TRUE(c2->no_iommu_mode());
  EXPECT_EQ(c2->compat_ioas_create(), -EINVAL);
  EXPECT_EQ(c2->object_count(), 0u);
}

// ------------------------------------------------------------------------ type1 compatibility

TEST_F(Iommufd, CompatBasics) {
  EXPECT_EQ(io(VFIO_GET_API_VERSION, 0ul), VFIO_API_VERSION);
  EXPECT_EQ(io(VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 1);
  EXPECT_EQ(io(VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 1);
  EXPECT_EQ(io(VFIO_CHECK_EXTENSION, VFIO_UNMAP_ALL), 1);
  EXPECT_EQ(io(VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), 1);  // CONFIG_VFIO_NOIOMMU
  EXPECT_EQ(io(VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR), 0);
  EXPECT_EQ(io(VFIO_CHECK_EXTENSION, VFIO_TYPE1_NESTING_IOMMU), 0);
  EXPECT_RC(io(VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU), ENODEV);  // negative, as the kernel
  EXPECT_RC(io(VFIO_IOMMU_DIRTY_PAGES, 0ul), ENOTTY);
  EXPECT_RC(io(VFIO_GROUP_GET_STATUS, 0ul), ENOTTY);
  // Without a compat IOAS everything answers ENODEV (a container would say EINVAL).
  EXPECT_RC(io(VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), ENODEV);
  EXPECT_RC(io(VFIO_SET_IOMMU, 42ul), EINVAL);
  vfio_iommu_type1_dma_map m{sizeof m, VFIO_DMA_MAP_FLAG_READ,
                             reinterpret_cast<uint64_t>(buf.data()), 0x10000, 0x1000};
  EXPECT_RC(io(VFIO_IOMMU_MAP_DMA, &m), ENODEV);
  vfio_iommu_type1_dma_unmap u{sizeof u, 0, 0x10000, 0x1000};
  EXPECT_RC(io(VFIO_IOMMU_UNMAP_DMA, &u), ENODEV);
  vfio_iommu_type1_info info{};  // 6.12 headers add a pad field
  info.argsz = sizeof info;
  EXPECT_RC(io(VFIO_IOMMU_GET_INFO, &info), ENODEV);

  uint32_t id = alloc_ioas();
  ASSERT_RC(set_compat(id), 0);
  EXPECT_EQ(io(VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU), 1);  // no domain yet
  EXPECT_RC(io(VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
  EXPECT_RC(io(VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);  // may be repeated
  EXPECT_RC(io(VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), EINVAL);
}

TEST_F(Iommufd, CompatMapDma) {
  uint32_t id = alloc_ioas();
  ASSERT_RC(set_compat(id), 0);
  auto m = [&](uint32_t argsz, uint32_t flags, const void* va, uint64_t iova, uint64_t size) {
    vfio_iommu_type1_dma_map x{argsz, flags, reinterpret_cast<uint64_t>(va), iova, size};
    return io(VFIO_IOMMU_MAP_DMA, &x);
  };
  const uint32_t rw = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  EXPECT_RC(m(31, rw, buf.data(), 0x10000, 0x1000), EINVAL);
  EXPECT_RC(m(32, rw | VFIO_DMA_MAP_FLAG_VADDR, buf.data(), 0x10000, 0x1000), EINVAL);
  EXPECT_RC(io(VFIO_IOMMU_MAP_DMA, nullptr), EFAULT);
  EXPECT_RC(m(32, rw, buf.data(), 0x10000, 0), EINVAL);
  // Wrap-around is EOVERFLOW here (type1: EINVAL).
  EXPECT_RC(m(32, rw, reinterpret_cast<void*>(UINT64_MAX - 0xfff), 0x10000, 0x2000), EOVERFLOW);
  EXPECT_RC(m(32, rw, buf.data(), UINT64_MAX - 0xfff, 0x2000), EOVERFLOW);
  EXPECT_RC(m(32, rw, buf.data(), 0x10000, 0x4000), 0);
  EXPECT_RC(m(32, rw, buf.data(), 0x12000, 0x4000), EEXIST);
  EXPECT_RC(m(32, VFIO_DMA_MAP_FLAG_READ, buf.data(), 0x20000, 0x1000), 0);
  auto a = areas(id);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].perm, iommu::kPermRead);
  // No mapping-count limit: the DMA_AVAIL capability says U32_MAX (see GET_INFO).
}

TEST_F(Iommufd, CompatUnmapDmaV2) {
  uint32_t id = alloc_ioas();
  ASSERT_RC(set_compat(id), 0);
  ASSERT_RC(io(VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
  ASSERT_RC(map(id, buf.data(), 0x4000, 0x10000), 0);
  ASSERT_RC(map(id, buf.data(), 0x4000, 0x14000), 0);
  auto u = [&](uint32_t flags, uint64_t iova, uint64_t size, uint64_t* out) {
    vfio_iommu_type1_dma_unmap x{sizeof x, flags, iova, size};
    long r = io(VFIO_IOMMU_UNMAP_DMA, &x);
    *out = x.size;
    return r;
  };
  uint64_t n = 77;
  vfio_iommu_type1_dma_unmap small{23, 0, 0x10000, 0x4000};
  EXPECT_RC(io(VFIO_IOMMU_UNMAP_DMA, &small), EINVAL);
  EXPECT_RC(u(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 0x10000, 0x4000, &n), EINVAL);
  EXPECT_RC(u(VFIO_DMA_UNMAP_FLAG_VADDR, 0x10000, 0x4000, &n), EINVAL);
  EXPECT_RC(u(VFIO_DMA_UNMAP_FLAG_ALL, 0x10000, 0, &n), EINVAL);
  // Splitting a mapping: ENOENT (type1 v2: EINVAL), size written back (0).
  n = 77;
  EXPECT_RC(u(0, 0x11000, 0x1000, &n), ENOENT);
  EXPECT_EQ(n, 0u);
  // Partial progress: the first mapping goes, the second is straddled — the error comes with
  // the bytes removed (type1 refuses up front and writes nothing back).
  EXPECT_RC(u(0, 0x10000, 0x6000, &n), ENOENT);
  EXPECT_EQ(n, 0x4000u);
  EXPECT_EQ(areas(id).size(), 1u);
  // An empty range: success with 0 bytes (6.12.y; vanilla 6.12 said ENOENT).
  EXPECT_RC(u(0, 0x40000, 0x1000, &n), 0);
  EXPECT_EQ(n, 0u);
  EXPECT_RC(u(0, 0x40000, 0, &n), EINVAL);
  EXPECT_RC(u(0, UINT64_MAX - 0xfff, 0x2000, &n), EOVERFLOW);
  EXPECT_RC(u(0, 0x14000, 0x4000, &n), 0);
  EXPECT_EQ(n, 0x4000u);
  ASSERT_RC(map(id, buf.data(), 0x4000, 0x10000), 0);
  ASSERT_RC(map(id, buf.data(), 0x2000, 0x80000), 0);
  EXPECT_RC(u(VFIO_DMA_UNMAP_FLAG_ALL, 0, 0, &n), 0);
  EXPECT_EQ(n, 0x6000u);
  EXPECT_RC(u(VFIO_DMA_UNMAP_FLAG_ALL, 0, 0, &n), 0);  // nothing left: still 0
  EXPECT_EQ(n, 0u);
}

TEST_F(Iommufd, CompatUnmapDmaType1Splits) {
  uint32_t id = alloc_ioas();
  ASSERT_RC(set_compat(id), 0);
  ASSERT_RC(io(VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), 0);  // disables large pages
  iommu_option o{sizeof o, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, 0, id, 9};
  EXPECT_RC(io(IOMMU_OPTION, &o), 0);
  EXPECT_EQ(o.val64, 0u);
  std::memset(buf.data(), 0xab, 0x10000);
  ASSERT_RC(map(id, buf.data(), 0x10000, 0x100000), 0);
  vfio_iommu_type1_dma_unmap x{sizeof x, 0, 0x104000, 0x2000};
  EXPECT_RC(io(VFIO_IOMMU_UNMAP_DMA, &x), 0);  // a hole in the middle
  EXPECT_EQ(x.size, 0x2000u);
  auto a = areas(id);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].iova, 0x100000u);
  EXPECT_EQ(a[0].length, 0x4000u);
  EXPECT_EQ(a[1].iova, 0x106000u);
  EXPECT_EQ(a[1].length, 0xa000u);
  // The kept pieces still map the same memory.
  auto acc = ctx()->access_create();
  ASSERT_TRUE(acc.ok());
  ASSERT_TRUE(ctx()->access_attach(*acc, id).ok());
  uint8_t b = 0;
  ASSERT_TRUE(ctx()->access(*acc)->read(0x10f000, &b, 1).ok());
  EXPECT_EQ(b, 0xab);
  buf.bytes()[0xf000] = 0xcd;
  ASSERT_TRUE(ctx()->access(*acc)->read(0x10f000, &b, 1).ok());
  EXPECT_EQ(b, 0xcd);
  // Cut points must be PAGE_SIZE aligned.
  x = {sizeof x, 0, 0x100800, 0x1000};
  EXPECT_RC(io(VFIO_IOMMU_UNMAP_DMA, &x), EINVAL);
  // An area pinned by an access cannot be split.
  auto pin = ctx()->access(*acc)->pin(0x106000, 0x1000, 0);
  ASSERT_TRUE(pin.ok());
  x = {sizeof x, 0, 0x108000, 0x1000};
  EXPECT_RC(io(VFIO_IOMMU_UNMAP_DMA, &x), EINVAL);
  ASSERT_TRUE(ctx()->access(*acc)->unpin(0x106000, 0x1000).ok());
  EXPECT_RC(io(VFIO_IOMMU_UNMAP_DMA, &x), 0);
  EXPECT_EQ(areas(id).size(), 3u);
  ctx()->access_destroy(*acc);
}

TEST_F(Iommufd, CompatGetInfoCapabilityChain) {
  uint32_t id = alloc_ioas();
  ASSERT_RC(set_compat(id), 0);
  vfio_iommu_type1_info small{};  // 6.12 headers add a pad field
  small.argsz = 15;
  EXPECT_RC(io(VFIO_IOMMU_GET_INFO, &small), EINVAL);
  // argsz 16: the fixed part only (cap_offset is beyond it), argsz tells the full size.
  struct {
    uint32_t argsz, flags;
    uint64_t pgsizes;
    uint32_t cap_offset, pad;
  } head{16, 0, 0, 0xdead, 0};
  EXPECT_RC(io(VFIO_IOMMU_GET_INFO, &head), 0);
  EXPECT_EQ(head.flags, uint32_t{VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS});
  EXPECT_EQ(head.argsz, 56u + 16u);  // 24 + DMA_AVAIL 16 + IOVA_RANGE 16 + 16 * 1 range
  EXPECT_EQ(head.pgsizes, ~uint64_t{0xfff});
  EXPECT_EQ(head.cap_offset, 0xdeadu);  // not copied (minsz 16)

  alignas(8) unsigned char b[256] = {};
  vfio_iommu_type1_info info{};  // 6.12 headers add a pad field
  info.argsz = sizeof b;
  std::memcpy(b, &info, sizeof info);
  EXPECT_RC(io(VFIO_IOMMU_GET_INFO, b), 0);
  std::memcpy(&info, b, sizeof info);
  EXPECT_EQ(info.argsz, 72u);
  EXPECT_EQ(info.cap_offset, 24u);
  vfio_iommu_type1_info_dma_avail avail;
  std::memcpy(&avail, b + 24, sizeof avail);
  EXPECT_EQ(avail.header.id, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);  // first: iommufd's own order
  EXPECT_EQ(avail.header.version, 1);
  EXPECT_EQ(avail.header.next, 40u);
  EXPECT_EQ(avail.avail, UINT32_MAX);
  vfio_info_cap_header h;
  std::memcpy(&h, b + 40, sizeof h);
  EXPECT_EQ(h.id, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
  EXPECT_EQ(h.next, 0u);
  uint32_t nr = 0;
  std::memcpy(&nr, b + 48, sizeof nr);
  EXPECT_EQ(nr, 1u);
  vfio_iova_range r;
  std::memcpy(&r, b + 56, sizeof r);
  EXPECT_EQ(r.start, 0u);
  EXPECT_EQ(r.end, UINT64_MAX);

  // Room for the first capability only: it is written (its next left 0), argsz says 72.
  unsigned char c[48] = {};
  info = {};
  info.argsz = sizeof c;
  std::memcpy(c, &info, sizeof info);
  EXPECT_RC(io(VFIO_IOMMU_GET_INFO, c), 0);
  std::memcpy(&info, c, sizeof info);
  EXPECT_EQ(info.argsz, 72u);
  EXPECT_EQ(info.cap_offset, 0u);
  std::memcpy(&avail, c + 24, sizeof avail);
  EXPECT_EQ(avail.header.id, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
  EXPECT_EQ(avail.header.next, 40u);  // argsz (48) >= 40 when the next one was laid out
}

TEST_F(Iommufd, CompatNoIommuSetIommu) {
  auto c = ctx();
  ASSERT_EQ(c->compat_set_no_iommu(), 0);
  EXPECT_EQ(io(VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 0);
  EXPECT_EQ(io(VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), 1);
  EXPECT_RC(io(VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), EINVAL);
  EXPECT_RC(io(VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), 0);
}

TEST_F(IommufdUnprivileged, CompatNoIommuNeedsRawio) {
  ASSERT_EQ(ctx()->compat_set_no_iommu(), 0);
  EXPECT_RC(io(VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), EPERM);
}

// ------------------------------------------------------------------------ access objects

TEST_F(Iommufd, AccessAttachReplaceDetach) {
  uint32_t a1 = alloc_ioas(), a2 = alloc_ioas();
  std::memset(buf.data(), 0x11, 0x1000);
  std::memset(buf.bytes() + 0x1000, 0x22, 0x1000);
  ASSERT_RC(map(a1, buf.data(), 0x1000, 0x10000), 0);
  ASSERT_RC(map(a2, buf.bytes() + 0x1000, 0x1000, 0x10000), 0);
  auto c = ctx();
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  uint32_t id = 0;
  auto made = c->access_create([&](uint64_t iova, uint64_t len) {
    calls.push_back({iova, len});
    (void)c->access(id)->unpin(0x10000, 0x1000);  // may call back for the access itself
  });
  ASSERT_TRUE(made.ok());
  id = *made;
  EXPECT_EQ(c->access_attach(id, 77).error(), ENOENT);
  EXPECT_EQ(c->access_replace(id, a2).error(), ENOENT);  // not attached
  EXPECT_EQ(c->access_attach(99, a1).error(), ENOENT);
  ASSERT_TRUE(c->access_attach(id, a1).ok());
  EXPECT_EQ(c->access_attach(id, a2).error(), EINVAL);
  uint8_t b = 0;
  ASSERT_TRUE(c->access(id)->read(0x10000, &b, 1).ok());
  EXPECT_EQ(b, 0x11);
  // A pinned range: an unmap asks the access (for the whole area) and then proceeds.
  ASSERT_TRUE(c->access(id)->pin(0x10000, 0x1000, iommu::kAccessWrite).ok());
  uint64_t n = 0;
  EXPECT_RC(unmap(a1, 0x10000, 0x1000, &n), 0);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_pair(uint64_t{0x10000}, uint64_t{0x1000}));
  ASSERT_RC(map(a1, buf.data(), 0x1000, 0x10000), 0);
  EXPECT_TRUE(c->access_replace(id, a1).ok());  // same IOAS: nothing happens
  ASSERT_TRUE(c->access_replace(id, a2).ok());
  ASSERT_TRUE(c->access(id)->read(0x10000, &b, 1).ok());
  EXPECT_EQ(b, 0x22);
  EXPECT_RC(destroy(a1), 0);  // no longer used
  EXPECT_RC(destroy(a2), EBUSY);
  c->access_detach(id);
  c->access_detach(id);  // not attached: nothing
  EXPECT_EQ(c->access(id)->read(0x10000, &b, 1).error(), ENOENT);
  EXPECT_RC(destroy(a2), 0);
  c->access_destroy(id);
  EXPECT_EQ(c->access(id), nullptr);
}

TEST_F(Iommufd, AccessKeepsTheFileOpen) {
  uint32_t id = alloc_ioas();
  ASSERT_RC(map(id, buf.data(), 0x1000, 0x10000), 0);
  auto c = ctx();
  auto acc = c->access_create();
  ASSERT_TRUE(acc.ok());
  ASSERT_TRUE(c->access_attach(*acc, id).ok());
  ASSERT_EQ(sys.close(fd), 0);  // the access holds a reference: nothing is destroyed
  EXPECT_EQ(c->object_count(), 2u);
  uint8_t b;
  EXPECT_TRUE(c->access(*acc)->read(0x10000, &b, 1).ok());
  c->access_destroy(*acc);  // the last reference: the context is released
  EXPECT_EQ(c->object_count(), 0u);
}

// ------------------------------------------------------------------------ concurrency

TEST_F(Iommufd, ConcurrentIoctlsAndAccessMoves) {
  const uint32_t a = alloc_ioas(), b = alloc_ioas();
  auto c = ctx();
  auto mover_acc = c->access_create([](uint64_t, uint64_t) {});
  auto pinned_acc = c->access_create([](uint64_t, uint64_t) {});  // keeps `a` in use
  ASSERT_TRUE(mover_acc.ok() && pinned_acc.ok());
  ASSERT_TRUE(c->access_attach(*mover_acc, a).ok());
  ASSERT_TRUE(c->access_attach(*pinned_acc, a).ok());
  std::atomic<bool> stop{false};
  std::vector<std::thread> mappers;
  for (int t = 0; t < 3; ++t) {
    mappers.emplace_back([&, t] {
      const uint64_t iova = 0x1000000 * static_cast<uint64_t>(t + 1);
      for (int i = 0; i < 200; ++i) {
        const uint32_t ioas = (i % 2) != 0 ? a : b;
        iommu_ioas_map m{sizeof m, IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE,   ioas,
                         0,        reinterpret_cast<uint64_t>(buf.bytes() + 0x10000 * t), 0x10000,
                         iova};
        EXPECT_RC(io(IOMMU_IOAS_MAP, &m), 0);
        uint8_t x;
        (void)c->access(*mover_acc)->read(iova, &x, 1);  // mapped or not in its current IOAS
        iommu_ioas_unmap u{sizeof u, ioas, iova, 0x10000};
        EXPECT_RC(io(IOMMU_IOAS_UNMAP, &u), 0);
      }
    });
  }
  std::thread mover([&] {
    for (int i = 0; !stop.load(); ++i) {
      EXPECT_TRUE(c->access_replace(*mover_acc, (i % 2) != 0 ? a : b).ok());
      EXPECT_RC(destroy(a), EBUSY);
    }
  });
  for (auto& t : mappers) t.join();
  stop = true;
  mover.join();
  c->access_destroy(*mover_acc);
  c->access_destroy(*pinned_acc);
  EXPECT_RC(destroy(a), 0);
  EXPECT_RC(destroy(b), 0);
}
