// Device cdev files (/dev/vfio/devices/vfioX) on an iommufd: access gating before
// BIND_IOMMUFD, bind/attach/replace/detach flows and errno, the exclusion between the cdev and
// group paths, automatic domains and reserved ranges, and the group path on an iommufd
// (SET_CONTAINER with an iommufd fd) — Linux 6.12.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/mman.h>

#include <cstring>
#include <memory>
#include <vector>

#include "iommufd/iommufd_context.h"
#include "test_util.h"
#include "uvfio/uapi/iommufd.h"
#include "uvfio/uapi/vfio_cdev.h"
#include "vfio/device_cdev_file.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"

using namespace uvfio;
using namespace uvfio::vfio;
using namespace uvfio::uapi;
using uvfio::test::Buffer;

namespace {

// A minimal device model: answers VFIO_DEVICE_GET_INFO and reads, keeps its DMA context.
class TestDevice : public VfioDeviceOps {
 public:
  int open_device(const DmaContext& dma) override {
    ++opens;
    translated = dma.translated;
    access = dma.access;
    return 0;
  }
  void close_device() override {
    ++closes;
    access.reset();
  }
  long ioctl(unsigned long request, unsigned long arg) override {
    if (request != VFIO_DEVICE_GET_INFO) return -ENOTTY;
    auto* info = reinterpret_cast<vfio_device_info*>(arg);
    if (info->argsz < 16) return -EINVAL;
    info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
    info->num_regions = 9;
    info->num_irqs = 5;
    return 0;
  }
  ssize_t read(void* buf, size_t count, uint64_t /*offset*/) override {
    std::memset(buf, 0x5a, count);
    return static_cast<ssize_t>(count);
  }
  int opens = 0, closes = 0;
  bool translated = false;
  std::shared_ptr<iommu::Access> access;
};

constexpr uint64_t kMsiStart = 0xfee00000, kMsiLast = 0xfeefffff;
constexpr uint64_t kApertureLast = (uint64_t{1} << 48) - 1;

struct Cdev : ::testing::Test {
  explicit Cdev(Credentials creds = Credentials::privileged()) : host(std::make_shared<Host>()) {
    // Group 0: two functions of one device (cdev 0 and 1); group 1: another device (cdev 2).
    group = *host->add_device({"0000:00:03.0", DriverState::kVfio, dev0, true});
    EXPECT_TRUE(host->add_device({"0000:00:03.1", DriverState::kVfio, dev1, true}, group).ok());
    EXPECT_TRUE(host->add_device({"0000:00:04.0", DriverState::kVfio, dev2, true}).ok());
    sys = std::make_unique<EmulatedSystem>(host, creds);
    ifd = sys->open("/dev/iommu", 2);
  }
  long io(int fd, unsigned long req, const void* arg) {
    return sys->ioctl(fd, req, reinterpret_cast<unsigned long>(arg));
  }
  long io(int fd, unsigned long req, unsigned long arg) { return sys->ioctl(fd, req, arg); }
  std::shared_ptr<IommufdContext> ctx(int fd = -1) {
    return std::dynamic_pointer_cast<IommufdContext>(sys->fds().get(fd < 0 ? ifd : fd));
  }
  int open_cdev(int index) {
    return sys->open("/dev/vfio/devices/vfio" + std::to_string(index), 2);
  }
  long bind(int cdev, int iommufd, uint32_t* devid = nullptr) {
    vfio_device_bind_iommufd b{sizeof b, 0, iommufd, 0xffffffff};
    long r = io(cdev, VFIO_DEVICE_BIND_IOMMUFD, &b);
    if (devid) *devid = b.out_devid;
    return r;
  }
  long attach(int cdev, uint32_t pt, uint32_t* out = nullptr) {
    vfio_device_attach_iommufd_pt a{sizeof a, 0, pt};
    long r = io(cdev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a);
    if (out) *out = a.pt_id;
    return r;
  }
  long detach(int cdev) {
    vfio_device_detach_iommufd_pt d{sizeof d, 0};
    return io(cdev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d);
  }
  uint32_t alloc_ioas(int fd = -1) {
    iommu_ioas_alloc a{sizeof a, 0, 0};
    EXPECT_EQ(io(fd < 0 ? ifd : fd, IOMMU_IOAS_ALLOC, &a), 0);
    return a.out_ioas_id;
  }
  long map(uint32_t ioas, const void* va, uint64_t len, uint64_t iova) {
    iommu_ioas_map m{sizeof m,
                     IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
                     ioas,
                     0,
                     reinterpret_cast<uint64_t>(va),
                     len,
                     iova};
    return io(ifd, IOMMU_IOAS_MAP, &m);
  }
  long destroy(uint32_t id) {
    iommu_destroy d{sizeof d, id};
    return io(ifd, IOMMU_DESTROY, &d);
  }
  std::vector<iommu_iova_range> ranges(uint32_t ioas) {
    std::vector<iommu_iova_range> r(8);
    iommu_ioas_iova_ranges q{sizeof q, ioas, 8, 0, reinterpret_cast<uint64_t>(r.data()), 0};
    EXPECT_EQ(io(ifd, IOMMU_IOAS_IOVA_RANGES, &q), 0);
    r.resize(q.num_iovas);
    return r;
  }
  long get_info(int fd) {
    vfio_device_info info{};
    info.argsz = sizeof info;
    return io(fd, VFIO_DEVICE_GET_INFO, &info);
  }
  std::shared_ptr<Group> grp() { return host->group(group, GroupType::kIommu); }

  std::shared_ptr<Host> host;
  std::shared_ptr<TestDevice> dev0 = std::make_shared<TestDevice>();
  std::shared_ptr<TestDevice> dev1 = std::make_shared<TestDevice>();
  std::shared_ptr<TestDevice> dev2 = std::make_shared<TestDevice>();
  int group = -1;
  std::unique_ptr<EmulatedSystem> sys;
  int ifd = -1;
  Buffer buf{1 << 20, 3};
};

}  // namespace

TEST_F(Cdev, EverythingRefusedBeforeBind) {
  int d = open_cdev(0);
  ASSERT_GE(d, 0);
  EXPECT_RC(get_info(d), EINVAL);
  EXPECT_RC(attach(d, 1), EINVAL);
  EXPECT_RC(detach(d), EINVAL);
  EXPECT_RC(io(d, VFIO_DEVICE_RESET, nullptr), EINVAL);
  char b[4];
  EXPECT_RC(sys->pread(d, b, sizeof b, 0), EINVAL);
  EXPECT_RC(sys->pwrite(d, b, sizeof b, 0), EINVAL);
  void* p = sys->mmap(d, 4096, PROT_READ, MAP_SHARED, 0);
  ASSERT_TRUE(VfioSystem::mmap_failed(p));
  EXPECT_EQ(reinterpret_cast<intptr_t>(p), -EINVAL);
  EXPECT_EQ(dev0->opens, 0);
  EXPECT_EQ(sys->open("/dev/vfio/devices/vfio9", 2), -ENOENT);
}

TEST_F(Cdev, BindValidation) {
  int d = open_cdev(0);
  int container = sys->open("/dev/vfio/vfio", 2);
  ASSERT_GE(container, 0);
  EXPECT_RC(io(d, VFIO_DEVICE_BIND_IOMMUFD, nullptr), EFAULT);
  vfio_device_bind_iommufd b{15, 0, ifd, 0};
  EXPECT_RC(io(d, VFIO_DEVICE_BIND_IOMMUFD, &b), EINVAL);
  b = {sizeof b, 1, ifd, 0};
  EXPECT_RC(io(d, VFIO_DEVICE_BIND_IOMMUFD, &b), EINVAL);
  EXPECT_RC(bind(d, -1), EINVAL);  // 6.12: no iommufd-less (no-IOMMU) binding
  EXPECT_RC(bind(d, 4242), EBADF);
  EXPECT_RC(bind(d, container), EBADFD);  // not an iommufd
  EXPECT_EQ(grp()->cdev_open_count, 0);   // failed binds leave the group usable
  EXPECT_EQ(dev0->opens, 0);

  uint32_t ioas = alloc_ioas();
  uint32_t devid = 0;
  ASSERT_RC(bind(d, ifd, &devid), 0);
  EXPECT_EQ(devid, ioas + 1);  // the next object id
  EXPECT_EQ(dev0->opens, 1);
  EXPECT_TRUE(dev0->translated);
  EXPECT_EQ(grp()->cdev_open_count, 1);
  vfio_device_info info{};
  info.argsz = sizeof info;
  EXPECT_RC(io(d, VFIO_DEVICE_GET_INFO, &info), 0);  // now the device model answers
  EXPECT_EQ(info.num_regions, 9u);
  EXPECT_RC(io(d, VFIO_DEVICE_RESET, nullptr), ENOTTY);
  char b4[4] = {};
  EXPECT_EQ(sys->pread(d, b4, sizeof b4, 0), 4);
  EXPECT_EQ(b4[0], 0x5a);
  EXPECT_RC(bind(d, ifd), EINVAL);  // one device cannot be bound twice
  EXPECT_EQ(grp()->cdev_open_count, 1);
  // The device object is held by the binding.
  EXPECT_RC(destroy(devid), EBUSY);
}

TEST_F(Cdev, CdevAndGroupExcludeEachOther) {
  int g = sys->open("/dev/vfio/" + std::to_string(group), 2);
  ASSERT_GE(g, 0);
  int d = open_cdev(1);
  EXPECT_RC(bind(d, ifd), EBUSY);  // the group is open
  EXPECT_EQ(dev1->opens, 0);
  ASSERT_EQ(sys->close(g), 0);
  ASSERT_RC(bind(d, ifd), 0);
  // While a device is bound through its cdev the group cannot be opened.
  EXPECT_EQ(sys->open("/dev/vfio/" + std::to_string(group), 2), -EBUSY);
  // A device of another group is unaffected.
  EXPECT_GE(sys->open("/dev/vfio/" + std::to_string(group + 1), 2), 0);
  ASSERT_EQ(sys->close(d), 0);
  EXPECT_EQ(dev1->closes, 1);
  EXPECT_GE(sys->open("/dev/vfio/" + std::to_string(group), 2), 0);
}

TEST_F(Cdev, OnlyOneCdevOpenOfADevice) {
  int a = open_cdev(0), b = open_cdev(0);
  ASSERT_RC(bind(a, ifd), 0);
  EXPECT_RC(bind(b, ifd), EINVAL);  // vfio_df_open: the device is already open
  EXPECT_EQ(dev0->opens, 1);
  EXPECT_EQ(grp()->cdev_open_count, 1);
  ASSERT_EQ(sys->close(a), 0);
  EXPECT_RC(bind(b, ifd), 0);
}

TEST_F(Cdev, GroupOwnedByOneIommufd) {
  int ifd2 = sys->open("/dev/iommu", 2);
  int a = open_cdev(0), b = open_cdev(1), c = open_cdev(2);
  ASSERT_RC(bind(a, ifd), 0);
  EXPECT_RC(bind(b, ifd2), EBUSY);  // DMA ownership of group 0 is ifd's
  EXPECT_EQ(dev1->opens, 0);
  EXPECT_RC(bind(c, ifd2), 0);  // another group
  EXPECT_RC(bind(b, ifd), 0);
}

TEST_F(Cdev, AttachReplaceDetach) {
  uint32_t ioas1 = alloc_ioas();  // 1
  int d = open_cdev(0);
  uint32_t devid = 0;
  ASSERT_RC(bind(d, ifd, &devid), 0);  // 2
  vfio_device_attach_iommufd_pt a{11, 0, ioas1};
  EXPECT_RC(io(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), EINVAL);
  a = {sizeof a, 1, ioas1};
  EXPECT_RC(io(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), EINVAL);
  EXPECT_RC(io(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, nullptr), EFAULT);
  EXPECT_RC(attach(d, 99), ENOENT);
  EXPECT_RC(attach(d, devid), EINVAL);  // not a page table

  std::memset(buf.data(), 0x42, 0x1000);
  ASSERT_RC(map(ioas1, buf.data(), 0x1000, 0x10000), 0);
  uint32_t pt = 0;
  ASSERT_RC(attach(d, ioas1, &pt), 0);
  EXPECT_EQ(pt, 3u);  // an automatic HWPT_PAGING, the returned pt_id
  // The group's reserved range and the aperture now shape the IOAS.
  auto r = ranges(ioas1);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].start, 0u);
  EXPECT_EQ(r[0].last, kMsiStart - 1);
  EXPECT_EQ(r[1].start, kMsiLast + 1);
  EXPECT_EQ(r[1].last, kApertureLast);
  EXPECT_RC(map(ioas1, buf.data(), 0x1000, kMsiStart), EINVAL);
  EXPECT_RC(map(ioas1, buf.data(), 0x1000, kApertureLast + 1), EINVAL);
  iommu_iova_range msi{kMsiStart - 0x1000, kMsiStart + 0xfff};
  iommu_ioas_allow_iovas allow{sizeof allow, ioas1, 1, 0, reinterpret_cast<uint64_t>(&msi)};
  EXPECT_RC(io(ifd, IOMMU_IOAS_ALLOW_IOVAS, &allow), EADDRINUSE);
  // The device's DMA translates through the IOAS.
  ASSERT_NE(dev0->access, nullptr);
  uint8_t byte = 0;
  ASSERT_TRUE(dev0->access->read(0x10000, &byte, 1).ok());
  EXPECT_EQ(byte, 0x42);
  // In use: nothing of it can be destroyed.
  EXPECT_RC(destroy(ioas1), EBUSY);
  EXPECT_RC(destroy(pt), EBUSY);
  EXPECT_RC(destroy(devid), EBUSY);

  // Attaching again to the same IOAS keeps the domain.
  uint32_t pt_again = 0;
  EXPECT_RC(attach(d, ioas1, &pt_again), 0);
  EXPECT_EQ(pt_again, pt);
  // Replace: another IOAS gets a new automatic domain, the old one goes with its last device.
  uint32_t ioas2 = alloc_ioas();  // 4
  std::memset(buf.bytes() + 0x1000, 0x43, 0x1000);
  ASSERT_RC(map(ioas2, buf.bytes() + 0x1000, 0x1000, 0x10000), 0);
  uint32_t pt2 = 0;
  ASSERT_RC(attach(d, ioas2, &pt2), 0);
  EXPECT_EQ(pt2, 5u);
  EXPECT_RC(destroy(pt), ENOENT);
  ASSERT_TRUE(dev0->access->read(0x10000, &byte, 1).ok());
  EXPECT_EQ(byte, 0x43);
  EXPECT_EQ(ranges(ioas1).size(), 1u);  // its reservations left with the device
  EXPECT_RC(destroy(ioas1), 0);
  // Replace by HWPT id (the same one: nothing changes).
  EXPECT_RC(attach(d, pt2, &pt), 0);
  EXPECT_EQ(pt, pt2);

  EXPECT_RC(detach(d), 0);
  EXPECT_RC(destroy(pt2), ENOENT);  // automatic: gone with its last device
  EXPECT_EQ(dev0->access->read(0x10000, &byte, 1).error(), ENOENT);  // DMA blocked
  EXPECT_EQ(ranges(ioas2).size(), 1u);
  EXPECT_RC(detach(d), 0);  // not attached: nothing to do
  vfio_device_detach_iommufd_pt dt{7, 0};
  EXPECT_RC(io(d, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt), EINVAL);
  dt = {sizeof dt, 2};
  EXPECT_RC(io(d, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt), EINVAL);
  EXPECT_RC(destroy(ioas2), 0);
  // Attach after detach is a fresh attach.
  uint32_t ioas3 = alloc_ioas();
  ASSERT_RC(attach(d, ioas3, &pt), 0);
  EXPECT_RC(destroy(ioas3), EBUSY);
}

TEST_F(Cdev, AttachRefusedByConflictingMappings) {
  uint32_t ioas = alloc_ioas();
  int d = open_cdev(0);
  ASSERT_RC(bind(d, ifd), 0);
  // A mapping in the group's reserved (MSI) window.
  ASSERT_RC(map(ioas, buf.data(), 0x1000, kMsiStart), 0);
  EXPECT_RC(attach(d, ioas), EADDRINUSE);
  iommu_ioas_unmap u{sizeof u, ioas, 0, UINT64_MAX};
  ASSERT_RC(io(ifd, IOMMU_IOAS_UNMAP, &u), 0);
  // A mapping beyond the aperture.
  ASSERT_RC(map(ioas, buf.data(), 0x1000, kApertureLast + 1), 0);
  EXPECT_RC(attach(d, ioas), EADDRINUSE);
  u.length = UINT64_MAX;  // the previous call wrote the bytes unmapped back
  ASSERT_RC(io(ifd, IOMMU_IOAS_UNMAP, &u), 0);
  // An allowed range over a reserved one.
  iommu_iova_range r{0, kMsiStart};
  iommu_ioas_allow_iovas allow{sizeof allow, ioas, 1, 0, reinterpret_cast<uint64_t>(&r)};
  ASSERT_RC(io(ifd, IOMMU_IOAS_ALLOW_IOVAS, &allow), 0);
  EXPECT_RC(attach(d, ioas), EADDRINUSE);
  allow.num_iovas = 0;
  ASSERT_RC(io(ifd, IOMMU_IOAS_ALLOW_IOVAS, &allow), 0);
  // Nothing was left behind by the failures: the next id is the one the attach gets.
  uint32_t pt = 0;
  ASSERT_RC(attach(d, ioas, &pt), 0);
  EXPECT_EQ(pt, 3u);
  EXPECT_EQ(ranges(ioas).size(), 2u);
}

TEST_F(Cdev, DevicesOfAGroupShareItsDomain) {
  uint32_t a = alloc_ioas(), b = alloc_ioas();
  int d0 = open_cdev(0), d1 = open_cdev(1);
  ASSERT_RC(bind(d0, ifd), 0);
  ASSERT_RC(bind(d1, ifd), 0);
  uint32_t pt0 = 0, pt1 = 0;
  ASSERT_RC(attach(d0, a, &pt0), 0);
  EXPECT_RC(attach(d1, b), EINVAL);  // the group is attached to another domain
  ASSERT_RC(attach(d1, a, &pt1), 0);
  EXPECT_EQ(pt0, pt1);
  // Replacing one device's domain moves the group.
  uint32_t pt_b = 0;
  ASSERT_RC(attach(d0, b, &pt_b), 0);
  EXPECT_NE(pt_b, pt0);
  EXPECT_EQ(dev1->access->ioas(), ctx()->ioas(b));
  EXPECT_RC(destroy(pt0), ENOENT);
  EXPECT_RC(destroy(a), 0);
  // Detaching one device leaves the other attached.
  ASSERT_RC(detach(d0), 0);
  EXPECT_EQ(dev1->access->ioas(), ctx()->ioas(b));
  EXPECT_RC(destroy(pt_b), EBUSY);
  ASSERT_EQ(sys->close(d1), 0);
  EXPECT_RC(destroy(pt_b), ENOENT);
  EXPECT_RC(destroy(b), 0);
}

TEST_F(Cdev, HwptAllocAndGetHwInfo) {
  uint32_t ioas = alloc_ioas();
  int d = open_cdev(0);
  uint32_t devid = 0;
  ASSERT_RC(bind(d, ifd, &devid), 0);
  iommu_hwpt_alloc h{};
  h.size = sizeof h;
  h.dev_id = devid;
  h.pt_id = ioas;
  h.__reserved = 1;
  EXPECT_RC(io(ifd, IOMMU_HWPT_ALLOC, &h), EOPNOTSUPP);
  h.__reserved = 0;
  h.data_len = 8;
  EXPECT_RC(io(ifd, IOMMU_HWPT_ALLOC, &h), EINVAL);  // data with type NONE
  h.data_len = 0;
  h.dev_id = 77;
  EXPECT_RC(io(ifd, IOMMU_HWPT_ALLOC, &h), ENOENT);
  h.dev_id = devid;
  h.pt_id = 77;
  EXPECT_RC(io(ifd, IOMMU_HWPT_ALLOC, &h), EINVAL);  // an unknown page table is EINVAL here
  h.pt_id = ioas;
  h.flags = IOMMU_HWPT_ALLOC_NEST_PARENT;
  EXPECT_RC(io(ifd, IOMMU_HWPT_ALLOC, &h), EOPNOTSUPP);
  h.flags = 0;
  ASSERT_RC(io(ifd, IOMMU_HWPT_ALLOC, &h), 0);
  const uint32_t hwpt = h.out_hwpt_id;
  EXPECT_EQ(hwpt, 3u);
  // The domain reserves what lies beyond its aperture; the device's ranges come at attach.
  auto r = ranges(ioas);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].last, kApertureLast);
  EXPECT_RC(destroy(ioas), EBUSY);  // the domain holds it
  uint32_t pt = 0;
  ASSERT_RC(attach(d, hwpt, &pt), 0);
  EXPECT_EQ(pt, hwpt);
  EXPECT_RC(destroy(hwpt), EBUSY);
  ASSERT_RC(detach(d), 0);
  EXPECT_RC(destroy(hwpt), 0);  // user-allocated: stays until destroyed
  EXPECT_RC(destroy(ioas), 0);

  // GET_HW_INFO: no driver data; the response is cut at the user's size.
  struct {
    iommu_hw_info info;
    uint64_t tail;
  } q{};
  q.info.size = 32;  // min_size: up to __reserved
  q.info.dev_id = devid;
  uint32_t data[4] = {1, 2, 3, 4};
  q.info.data_len = sizeof data;
  q.info.data_uptr = reinterpret_cast<uint64_t>(data);
  q.info.out_capabilities = 0x1234;
  ASSERT_RC(io(ifd, IOMMU_GET_HW_INFO, &q), 0);
  EXPECT_EQ(q.info.out_data_type, uint32_t{IOMMU_HW_INFO_TYPE_NONE});
  EXPECT_EQ(q.info.data_len, 0u);
  EXPECT_EQ(data[3], 0u);                       // the user's buffer is cleared
  EXPECT_EQ(q.info.out_capabilities, 0x1234u);  // beyond the 32 bytes given
  q.info.dev_id = 99;
  EXPECT_RC(io(ifd, IOMMU_GET_HW_INFO, &q), ENOENT);
  q.info.flags = 1;
  EXPECT_RC(io(ifd, IOMMU_GET_HW_INFO, &q), EOPNOTSUPP);
}

TEST_F(Cdev, CloseUnbindsAndKeepsIommufdAlive) {
  uint32_t ioas = alloc_ioas();
  int d = open_cdev(0);
  ASSERT_RC(bind(d, ifd), 0);
  ASSERT_RC(attach(d, ioas), 0);
  auto c = ctx();
  EXPECT_EQ(c->object_count(), 3u);
  // Closing the iommufd fd does not tear the context down: the binding holds it.
  ASSERT_EQ(sys->close(ifd), 0);
  EXPECT_EQ(c->object_count(), 3u);
  EXPECT_RC(get_info(d), 0);
  ASSERT_EQ(sys->close(d), 0);
  EXPECT_EQ(dev0->closes, 1);
  EXPECT_EQ(c->object_count(), 0u);  // unbound, then the context's last reference went
  EXPECT_EQ(grp()->cdev_open_count, 0);
}

TEST_F(Cdev, CloseLeavesOtherObjects) {
  uint32_t ioas = alloc_ioas();
  int d = open_cdev(2);
  ASSERT_RC(bind(d, ifd), 0);
  ASSERT_RC(attach(d, ioas), 0);
  ASSERT_EQ(sys->close(d), 0);
  EXPECT_EQ(ctx()->object_count(), 1u);  // the IOAS; the device and its domain are gone
  EXPECT_EQ(ranges(ioas).size(), 1u);
  EXPECT_RC(destroy(ioas), 0);
  // The device can be bound again.
  d = open_cdev(2);
  EXPECT_RC(bind(d, ifd), 0);
  EXPECT_EQ(dev2->opens, 2);
}

// ------------------------------------------------------------------------ group path

TEST_F(Cdev, GroupPathOnIommufd) {
  int g = sys->open("/dev/vfio/" + std::to_string(group), 2);
  ASSERT_GE(g, 0);
  int fd = ifd;
  ASSERT_RC(io(g, VFIO_GROUP_SET_CONTAINER, &fd), 0);
  iommu_vfio_ioas v{sizeof v, 0, IOMMU_VFIO_IOAS_GET, 0};
  ASSERT_RC(io(ifd, IOMMU_VFIO_IOAS, &v), 0);  // the compat IOAS was created
  EXPECT_EQ(v.ioas_id, 1u);
  EXPECT_RC(io(ifd, VFIO_SET_IOMMU, 1ul * VFIO_TYPE1v2_IOMMU), 0);
  long dfd = io(g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0");
  ASSERT_GE(dfd, 0);
  EXPECT_EQ(ctx()->object_count(), 3u);  // IOAS, DEVICE, automatic HWPT
  EXPECT_NE(ctx()->device_id(*host->device("0000:00:03.0")), 0u);
  EXPECT_EQ(io(ifd, VFIO_CHECK_EXTENSION, 1ul * VFIO_DMA_CC_IOMMU), 0);  // an emulated domain
  EXPECT_RC(destroy(1), EBUSY);
  // The container ioctls map into the compat IOAS, where the device DMAs.
  std::memset(buf.data(), 0x77, 0x1000);
  vfio_iommu_type1_dma_map m{sizeof m, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                             reinterpret_cast<uint64_t>(buf.data()), 0x200000, 0x1000};
  ASSERT_RC(io(ifd, VFIO_IOMMU_MAP_DMA, &m), 0);
  uint8_t byte = 0;
  ASSERT_NE(dev0->access, nullptr);
  ASSERT_TRUE(dev0->access->read(0x200000, &byte, 1).ok());
  EXPECT_EQ(byte, 0x77);
  // The compat IOAS reserves the group's MSI window: a MAP_DMA into it fails.
  m.iova = kMsiStart;
  EXPECT_RC(io(ifd, VFIO_IOMMU_MAP_DMA, &m), EINVAL);
  // A second open of the device through the group shares the binding.
  long dfd2 = io(g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0");
  ASSERT_GE(dfd2, 0);
  EXPECT_EQ(ctx()->object_count(), 3u);
  // The cdev path is refused while the group is open.
  int c = open_cdev(1);
  EXPECT_RC(bind(c, ifd), EBUSY);
  ASSERT_EQ(sys->close(static_cast<int>(dfd)), 0);
  EXPECT_EQ(ctx()->object_count(), 3u);
  ASSERT_EQ(sys->close(static_cast<int>(dfd2)), 0);
  EXPECT_EQ(ctx()->object_count(), 1u);  // unbound at the last close
  EXPECT_EQ(dev0->closes, 1);
  EXPECT_RC(destroy(1), 0);
  // Without a compat IOAS a device cannot be opened through the group.
  EXPECT_RC(io(g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0"), ENODEV);
  EXPECT_EQ(ctx()->object_count(), 0u);
}

TEST(CdevNoIommu, GroupPathNoIommuMode) {
  HostOptions opts;
  opts.enable_unsafe_noiommu_mode = true;
  auto host = std::make_shared<Host>(opts);
  auto dev = std::make_shared<TestDevice>();
  auto gid = host->add_device({"0000:00:05.0", DriverState::kVfio, dev, false});
  ASSERT_TRUE(gid.ok());
  EmulatedSystem sys(host, Credentials::privileged());
  int ifd = sys.open("/dev/iommu", 2);
  int g = sys.open("/dev/vfio/noiommu-" + std::to_string(*gid), 2);
  ASSERT_GE(g, 0);
  int fd = ifd;
  ASSERT_EQ(sys.ioctl(g, VFIO_GROUP_SET_CONTAINER, reinterpret_cast<unsigned long>(&fd)), 0);
  auto ctx = std::dynamic_pointer_cast<IommufdContext>(sys.fds().get(ifd));
  EXPECT_TRUE(ctx->no_iommu_mode());
  EXPECT_EQ(ctx->compat_ioas(), nullptr);
  EXPECT_EQ(sys.ioctl(ifd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 0);
  EXPECT_EQ(sys.ioctl(ifd, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), 0);
  // A compat IOAS chosen by hand implies translation: the device may not be opened.
  iommu_ioas_alloc a{sizeof a, 0, 0};
  ASSERT_EQ(sys.ioctl(ifd, IOMMU_IOAS_ALLOC, reinterpret_cast<unsigned long>(&a)), 0);
  iommu_vfio_ioas v{sizeof v, a.out_ioas_id, IOMMU_VFIO_IOAS_SET, 0};
  ASSERT_EQ(sys.ioctl(ifd, IOMMU_VFIO_IOAS, reinterpret_cast<unsigned long>(&v)), 0);
  EXPECT_EQ(sys.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, reinterpret_cast<unsigned long>("0000:00:05.0")),
            -EPERM);
  v.op = IOMMU_VFIO_IOAS_CLEAR;
  ASSERT_EQ(sys.ioctl(ifd, IOMMU_VFIO_IOAS, reinterpret_cast<unsigned long>(&v)), 0);
  long dfd =
      sys.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, reinterpret_cast<unsigned long>("0000:00:05.0"));
  ASSERT_GE(dfd, 0);
  EXPECT_FALSE(dev->translated);
  EXPECT_EQ(ctx->object_count(), 1u);  // no DEVICE object for a no-IOMMU device
  // Unprivileged callers are refused by group_device_open itself too.
  EXPECT_EQ(ctx->group_device_open(host->device("0000:00:05.0"), Credentials{}), -EPERM);
}
