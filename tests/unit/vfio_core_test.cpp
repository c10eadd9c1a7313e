// The VFIO core's host model and object lifetimes: groups, viability, device removal through the
// REQ path, no-IOMMU mode, and fault injection over the canonical open/map sequence.
#include <gtest/gtest.h>
#include <linux/vfio.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "test_util.h"
#include "uvfio/base/fault_injection.h"
#include "uvfio/uapi/iommufd.h"
#include "uvfio/uapi/vfio_cdev.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"

using namespace uvfio;
using namespace uvfio::vfio;
using namespace std::chrono_literals;

namespace {

// A device that counts opens and REQ calls; `on_request` lets a test play the user's driver.
class CountingDevice : public VfioDeviceOps {
 public:
  int open_device(const DmaContext& dma) override {
    ++opens;
    translated = dma.translated;
    has_access = dma.access != nullptr;
    return 0;
  }
  void close_device() override { ++closes; }
  long ioctl(unsigned long request, unsigned long /*arg*/) override {
    return request == VFIO_DEVICE_RESET ? 0 : -ENOTTY;
  }
  void request(unsigned count) override {
    requests.push_back(count);
    if (on_request) on_request(count);
  }
  std::atomic<int> opens{0}, closes{0};
  bool translated = false, has_access = false;
  std::vector<unsigned> requests;
  std::function<void(unsigned)> on_request;
};

struct Sequence {
  int container = -1, group = -1, device = -1;
};

// The canonical legacy sequence; returns the first failing step's result (or 0).
long canonical(EmulatedSystem& sys, const std::string& group_path, const std::string& name,
               void* buf, Sequence* s) {
  if ((s->container = sys.open("/dev/vfio/vfio", 2)) < 0) return s->container;
  if ((s->group = sys.open(group_path, 2)) < 0) return s->group;
  int cfd = s->container;
  if (long r = sys.ioctl(s->group, VFIO_GROUP_SET_CONTAINER, &cfd); r < 0) return r;
  if (long r = sys.ioctl(s->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU); r < 0) return r;
  long dfd = sys.ioctl(s->group, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>(name.c_str()));
  if (dfd < 0) return dfd;
  s->device = static_cast<int>(dfd);
  vfio_iommu_type1_dma_map m{sizeof m, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                             reinterpret_cast<uint64_t>(buf), 0x100000, 0x10000};
  if (long r = sys.ioctl(s->container, VFIO_IOMMU_MAP_DMA, &m); r < 0) return r;
  vfio_iommu_type1_dma_unmap u{sizeof u, 0, 0x100000, 0x10000};
  if (long r = sys.ioctl(s->container, VFIO_IOMMU_UNMAP_DMA, &u); r < 0) return r;
  return 0;
}

void close_all(EmulatedSystem& sys, Sequence* s) {
  for (int* fd : {&s->device, &s->group, &s->container}) {
    if (*fd >= 0) {
      EXPECT_EQ(sys.close(*fd), 0);
    }
    *fd = -1;
  }
}

}  // namespace

TEST(Host, AddDeviceRules) {
  auto host = std::make_shared<Host>();
  auto dev = std::make_shared<CountingDevice>();
  EXPECT_EQ(host->add_device({"0000:00:01.0", DriverState::kVfio, nullptr, true}).error(), EINVAL);
  auto g = host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true}).error(), EEXIST);
  // Same group by number; a second group gets the next number.
  ASSERT_EQ(*host->add_device({"0000:00:01.1", DriverState::kNone, nullptr, true}, *g), *g);
  EXPECT_EQ(*host->add_device({"0000:00:02.0", DriverState::kVfio, dev, true}), *g + 1);
  // No IOMMU: refused unless the host enables the unsafe mode.
  EXPECT_EQ(host->add_device({"0000:00:05.0", DriverState::kVfio, dev, false}).error(), ENODEV);
  EXPECT_FALSE(host->tainted());
  EXPECT_EQ(host->group(*g, GroupType::kIommu)->devices().size(), 2u);
}

TEST(Host, ViabilityFollowsDrivers) {
  auto host = std::make_shared<Host>();
  auto dev = std::make_shared<CountingDevice>();
  int g = *host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true});
  ASSERT_TRUE(host->add_device({"0000:00:01.1", DriverState::kBridge, nullptr, true}, g).ok());
  auto group = host->group(g, GroupType::kIommu);
  EXPECT_TRUE(group->viable());
  ASSERT_TRUE(host->set_driver("0000:00:01.1", DriverState::kOther).ok());
  EXPECT_FALSE(group->viable());
  ASSERT_TRUE(host->set_driver("0000:00:01.1", DriverState::kAllowed).ok());
  EXPECT_TRUE(group->viable());
  ASSERT_TRUE(host->set_driver("0000:00:01.1", DriverState::kNone).ok());
  EXPECT_TRUE(group->viable());
  EXPECT_EQ(host->set_driver("nope", DriverState::kNone).error(), ENODEV);
}

TEST(Host, NoIommuModeTaintsAndWarns) {
  HostOptions o;
  o.enable_unsafe_noiommu_mode = true;
  auto host = std::make_shared<Host>(o);
  auto dev = std::make_shared<CountingDevice>();
  EXPECT_FALSE(host->tainted());
  int g = *host->add_device({"0000:00:05.0", DriverState::kVfio, dev, false});
  EXPECT_TRUE(host->tainted());
  auto group = host->group(g, GroupType::kNoIommu);
  ASSERT_TRUE(group);
  EXPECT_EQ(group->path(), "/dev/vfio/noiommu-" + std::to_string(g));
  EXPECT_FALSE(host->group(g, GroupType::kIommu));

  EmulatedSystem sys(host, Credentials::privileged("noiommu-test", 4242));
  int c = sys.open("/dev/vfio/vfio", 2), gf = sys.open(group->path(), 2);
  ASSERT_GE(gf, 0);
  ASSERT_EQ(sys.ioctl(gf, VFIO_GROUP_SET_CONTAINER, &c), 0);
  ASSERT_EQ(sys.ioctl(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), 0);
  testing::internal::CaptureStderr();
  long d = sys.ioctl(gf, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>("0000:00:05.0"));
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_GE(d, 0);
  // Loud: the opening process is named.
  EXPECT_NE(log.find("vfio-noiommu device opened by user (noiommu-test:4242)"), std::string::npos)
      << log;
  // Untranslated DMA: the device gets no IOAS access.
  EXPECT_FALSE(dev->translated);
  EXPECT_FALSE(dev->has_access);
}

TEST(Host, RemovalAsksTheUserWithEscalatingCount) {
  auto host = std::make_shared<Host>();
  auto dev = std::make_shared<CountingDevice>();
  int g = *host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true});
  auto other = std::make_shared<CountingDevice>();
  ASSERT_TRUE(host->add_device({"0000:00:01.1", DriverState::kVfio, other, true}, g).ok());
  EmulatedSystem sys(host, Credentials::privileged());
  test::Buffer buf(0x10000);
  Sequence s;
  ASSERT_EQ(canonical(sys, "/dev/vfio/" + std::to_string(g), "0000:00:01.0", buf.data(), &s), 0);
  auto group = host->group(g, GroupType::kIommu);

  // The user's driver gives the device back on the third request; meanwhile the group stays
  // viable for the other device's sake (the unbound-device bridge).
  std::atomic<bool> viable_during = true;
  dev->on_request = [&](unsigned count) {
    {
      std::lock_guard lk(group->mu);
      viable_during = viable_during && group->viable();
    }
    if (count == 2) {
      std::thread([&sys, fd = s.device] { sys.close(fd); }).detach();
    }
  };
  auto r = host->remove_device("0000:00:01.0", false, 20ms, std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(r.ok()) << errno_name(r.error());
  s.device = -1;
  EXPECT_EQ(dev->requests, (std::vector<unsigned>{0, 1, 2}));
  EXPECT_TRUE(viable_during);
  EXPECT_EQ(host->device("0000:00:01.0")->driver(), DriverState::kNone);
  // The other device is still usable through the same group and container.
  long d2 = sys.ioctl(s.group, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>("0000:00:01.1"));
  EXPECT_GE(d2, 0);
  EXPECT_EQ(sys.ioctl(s.group, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>("0000:00:01.0")),
            -ENODEV);
  sys.close(static_cast<int>(d2));
  close_all(sys, &s);
}

// One vfio device in its own group, opened through the canonical legacy sequence.
struct OneDeviceInUse : ::testing::Test {
  void SetUp() override {
    g = *host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true});
    ASSERT_EQ(canonical(sys, "/dev/vfio/" + std::to_string(g), "0000:00:01.0", buf.data(), &s), 0);
  }
  void TearDown() override { close_all(sys, &s); }
  std::shared_ptr<Host> host = std::make_shared<Host>();
  std::shared_ptr<CountingDevice> dev = std::make_shared<CountingDevice>();
  int g = -1;
  EmulatedSystem sys{host, Credentials::privileged()};
  test::Buffer buf{0x10000};
  Sequence s;
};

TEST_F(OneDeviceInUse, RemovalTimesOutAndChangesNothing) {
  auto r =
      host->remove_device("0000:00:01.0", false, 10ms, std::chrono::steady_clock::now() + 50ms);
  EXPECT_EQ(r.error(), ETIMEDOUT);
  EXPECT_GE(dev->requests.size(), 2u);
  EXPECT_EQ(host->device("0000:00:01.0")->driver(), DriverState::kVfio);
  EXPECT_EQ(sys.ioctl(s.device, VFIO_DEVICE_RESET, 0ul), 0);  // still the user's
}

TEST_F(OneDeviceInUse, UnpluggingTheLastDeviceDetachesTheGroup) {
  sys.close(s.device);
  s.device = -1;
  ASSERT_TRUE(
      host->remove_device("0000:00:01.0", true, 10ms, std::chrono::steady_clock::now() + 1s).ok());
  // The group lost its container (and with it the backend), and answers ENODEV.
  vfio_group_status st{sizeof st, 0};
  EXPECT_EQ(sys.ioctl(s.group, VFIO_GROUP_GET_STATUS, &st), -ENODEV);
  vfio_iommu_type1_dma_map m{sizeof m, VFIO_DMA_MAP_FLAG_READ,
                             reinterpret_cast<uint64_t>(buf.data()), 0x200000, 0x1000};
  EXPECT_EQ(sys.ioctl(s.container, VFIO_IOMMU_MAP_DMA, &m), -EINVAL);
  EXPECT_EQ(sys.open("/dev/vfio/" + std::to_string(g), 2), -ENOENT);
  EXPECT_EQ(host->memlock_account()->locked_bytes(), 0u);
}

// Every fault point on the canonical path, one at a time: the error reaches the caller, nothing
// leaks, and the same objects work afterwards.
TEST(FaultInjection, CanonicalSequenceFailsCleanlyAtEveryPoint) {
  HostOptions o;
  o.memlock_limit = 64 << 20;
  auto host = std::make_shared<Host>(o);
  auto dev = std::make_shared<CountingDevice>();
  int g = *host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true});
  const std::string path = "/dev/vfio/" + std::to_string(g);
  test::Buffer buf(0x10000);
  unsigned n = 1;
  for (;; ++n) {
    ASSERT_LT(n, 500u) << "the sequence never completed";
    // Without CAP_IPC_LOCK, so the host's locked-memory account is charged (and checked).
    Credentials creds = Credentials::privileged();
    creds.cap_ipc_lock = false;
    EmulatedSystem sys(host, creds);
    Sequence s;
    long r;
    {
      fault::Armed armed(n);
      r = canonical(sys, path, "0000:00:01.0", buf.data(), &s);
    }
    const bool injected = fault::injected();
    if (injected) {
      // The injected failure reached the caller, as a sensible errno.
      EXPECT_NE(r, 0) << "fault " << n << " was swallowed";
      EXPECT_TRUE(r == -ENOMEM || r == -EMFILE || r == -EFAULT || r == -EBADF)
          << "fault " << n << ": " << errno_name(static_cast<int>(-r));
    }
    close_all(sys, &s);
    EXPECT_EQ(sys.fds().size(), 0u) << "fault " << n;
    EXPECT_EQ(host->memlock_account()->locked_bytes(), 0u) << "fault " << n;
    EXPECT_EQ(host->device("0000:00:01.0")->open_count(), 0) << "fault " << n;
    EXPECT_EQ(dev->opens.load(), dev->closes.load()) << "fault " << n;
    // Still usable: the whole sequence works right after.
    Sequence again;
    ASSERT_EQ(canonical(sys, path, "0000:00:01.0", buf.data(), &again), 0) << "after fault " << n;
    close_all(sys, &again);
    if (!injected) break;
  }
  EXPECT_GT(n, 5u);  // the path really has fault points
}

namespace {

using namespace uvfio::uapi;

// iommufd + cdev: IOAS, map, bind, attach, unmap, detach. `fds` receives what it opened.
long cdev_sequence(EmulatedSystem& sys, const std::string& cdev, void* buf, std::vector<int>* fds) {
  int ifd = sys.open("/dev/iommu", 2);
  if (ifd < 0) return ifd;
  fds->push_back(ifd);
  iommu_ioas_alloc alloc{sizeof alloc, 0, 0};
  if (long r = sys.ioctl(ifd, IOMMU_IOAS_ALLOC, &alloc); r < 0) return r;
  iommu_ioas_map map{};
  map.size = sizeof map;
  map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  map.ioas_id = alloc.out_ioas_id;
  map.user_va = reinterpret_cast<uint64_t>(buf);
  map.length = 0x10000;
  map.iova = 0x100000;
  if (long r = sys.ioctl(ifd, IOMMU_IOAS_MAP, &map); r < 0) return r;
  int dfd = sys.open(cdev, 2);
  if (dfd < 0) return dfd;
  fds->push_back(dfd);
  vfio_device_bind_iommufd bind{};
  bind.argsz = sizeof bind;
  bind.iommufd = ifd;
  if (long r = sys.ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &bind); r < 0) return r;
  vfio_device_attach_iommufd_pt attach{};
  attach.argsz = sizeof attach;
  attach.pt_id = alloc.out_ioas_id;
  if (long r = sys.ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach); r < 0) return r;
  iommu_ioas_unmap unmap{};
  unmap.size = sizeof unmap;
  unmap.ioas_id = alloc.out_ioas_id;
  unmap.iova = 0x100000;
  unmap.length = 0x10000;
  if (long r = sys.ioctl(ifd, IOMMU_IOAS_UNMAP, &unmap); r < 0) return r;
  vfio_device_detach_iommufd_pt detach{};
  detach.argsz = sizeof detach;
  return sys.ioctl(dfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach);
}

// The legacy group path on an iommufd: SET_CONTAINER(iommufd), GET_DEVICE_FD, compat MAP_DMA.
long group_on_iommufd(EmulatedSystem& sys, const std::string& group, const std::string& name,
                      void* buf, std::vector<int>* fds) {
  int ifd = sys.open("/dev/iommu", 2);
  if (ifd < 0) return ifd;
  fds->push_back(ifd);
  int gfd = sys.open(group, 2);
  if (gfd < 0) return gfd;
  fds->push_back(gfd);
  if (long r = sys.ioctl(gfd, VFIO_GROUP_SET_CONTAINER, &ifd); r < 0) return r;
  long dfd = sys.ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>(name.c_str()));
  if (dfd < 0) return dfd;
  fds->push_back(static_cast<int>(dfd));
  vfio_iommu_type1_dma_map m{sizeof m, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                             reinterpret_cast<uint64_t>(buf), 0x100000, 0x10000};
  return sys.ioctl(ifd, VFIO_IOMMU_MAP_DMA, &m);
}

using SequenceFn = std::function<long(EmulatedSystem&, std::vector<int>*)>;

// Walks every fault point of `seq`; after each injected failure: the caller saw an errno,
// closing everything leaves no fd, open device or locked memory behind, and the sequence then
// succeeds.
void walk_faults(const std::shared_ptr<Host>& host, const std::string& device,
                 const SequenceFn& seq) {
  Credentials creds = Credentials::privileged();
  creds.cap_ipc_lock = false;
  unsigned n = 1;
  for (;; ++n) {
    ASSERT_LT(n, 500u) << "the sequence never completed";
    EmulatedSystem sys(host, creds);
    std::vector<int> fds;
    long r;
    {
      fault::Armed armed(n);
      r = seq(sys, &fds);
    }
    const bool injected = fault::injected();
    if (injected) {
      EXPECT_LT(r, 0) << "fault " << n << " was swallowed";
    } else {
      EXPECT_EQ(r, 0) << errno_name(static_cast<int>(-r));
    }
    for (auto it = fds.rbegin(); it != fds.rend(); ++it) EXPECT_EQ(sys.close(*it), 0);
    EXPECT_EQ(sys.fds().size(), 0u) << "fault " << n;
    EXPECT_EQ(host->memlock_account()->locked_bytes(), 0u) << "fault " << n;
    EXPECT_EQ(host->device(device)->open_count(), 0) << "fault " << n;
    std::vector<int> again;
    EXPECT_EQ(seq(sys, &again), 0) << "after fault " << n;
    for (auto it = again.rbegin(); it != again.rend(); ++it) sys.close(*it);
    if (!injected) break;
  }
  EXPECT_GT(n, 3u);
}

}  // namespace

TEST(FaultInjection, IommufdBindAttachFailsCleanlyAtEveryPoint) {
  auto host = std::make_shared<Host>(HostOptions{.memlock_limit = 64 << 20});
  auto dev = std::make_shared<CountingDevice>();
  (void)*host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true});
  const std::string cdev =
      "/dev/vfio/devices/vfio" + std::to_string(host->device("0000:00:01.0")->cdev_index());
  test::Buffer buf(0x10000);
  walk_faults(host, "0000:00:01.0", [&](EmulatedSystem& sys, std::vector<int>* fds) {
    return cdev_sequence(sys, cdev, buf.data(), fds);
  });
  EXPECT_EQ(dev->opens.load(), dev->closes.load());
}

TEST(FaultInjection, GroupOnIommufdFailsCleanlyAtEveryPoint) {
  auto host = std::make_shared<Host>(HostOptions{.memlock_limit = 64 << 20});
  auto dev = std::make_shared<CountingDevice>();
  int g = *host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true});
  test::Buffer buf(0x10000);
  walk_faults(host, "0000:00:01.0", [&](EmulatedSystem& sys, std::vector<int>* fds) {
    return group_on_iommufd(sys, "/dev/vfio/" + std::to_string(g), "0000:00:01.0", buf.data(), fds);
  });
  EXPECT_EQ(dev->opens.load(), dev->closes.load());
}
