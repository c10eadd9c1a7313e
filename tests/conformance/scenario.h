// Conformance scenarios: sequences of VFIO system calls with the results and errno the kernel
// gives, run against any provider of VFIO files (uvfio's emulation here; the real kernel in the
// VM harness). Each scenario names the kernel function whose behaviour it encodes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "uvfio/vfio/vfio_system.h"

namespace uvfio::conformance {

/// The world a scenario needs. Providers build each from scratch for every scenario.
enum class Setup {
  kViableGroup,       // one IOMMU group with one device bound to vfio
  kTwoGroups,         // two viable IOMMU groups, one vfio device each
  kGroupOtherDriver,  // a group whose second device is bound to another (DMA-using) driver
  kGroupStubDriver,   // a group whose second device is bound to pci-stub (allow-listed)
  kNoIommuGroup,      // no-IOMMU mode on, one no-IOMMU group with one vfio device
  kNoIommuAndViable,  // no-IOMMU mode on, one no-IOMMU group and one ordinary group
  kNoIommuDisabled,   // no-IOMMU mode off, one ordinary viable group
  kUnprivileged,      // a viable group and a no-IOMMU group, opened without CAP_SYS_RAWIO
  kLowMemlock,        // a viable group; the caller lacks CAP_IPC_LOCK and may lock 1 MiB
  kEduDevice,         // a viable group whose device is QEMU's edu (1234:11e8) bound to vfio-pci
};

/// The locked-memory limit of Setup::kLowMemlock.
inline constexpr uint64_t kLowMemlockBytes = 1 << 20;

/// What a provider built: the system to call and the names in it.
struct World {
  virtual ~World() = default;  // providers extend it with what they own
  vfio::VfioSystem* sys = nullptr;
  std::string group;   // path of the (first) group
  std::string device;  // name of its vfio device (for GET_DEVICE_FD)
  std::string cdev;    // /dev/vfio/devices/vfioX of that device
  std::string group2;  // second group (kTwoGroups, kNoIommuAndViable: the ordinary one)
  std::string device2;
  uint64_t page_size = 4096;  // the IOMMU's smallest page
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  /// A fresh world for `setup`, or null if this provider cannot build it (the scenario is then
  /// reported as skipped, never as passed).
  virtual std::unique_ptr<World> make(Setup setup) = 0;
  /// Releases everything `make` built (closing fds is the scenario runner's job).
  virtual void destroy(std::unique_ptr<World> world) = 0;
};

/// The state a scenario's steps share: named fds and DMA buffers.
class Env {
 public:
  explicit Env(World& w) : world(w) {}
  ~Env();
  World& world;
  vfio::VfioSystem& sys() { return *world.sys; }

  /// Opens `path` and remembers the fd as `slot`; returns what open returned.
  long open(const std::string& slot, const std::string& path);
  long close(const std::string& slot);
  int fd(const std::string& slot) const;
  long ioctl(const std::string& slot, unsigned long request, unsigned long arg);
  long ioctl(const std::string& slot, unsigned long request, void* arg) {
    return ioctl(slot, request, reinterpret_cast<unsigned long>(arg));
  }
  /// Remembers an fd a call returned (GET_DEVICE_FD) as `slot`.
  long keep(const std::string& slot, long fd_or_error);
  /// A page-aligned, zeroed buffer of `size` bytes named `name`, alive for the scenario.
  void* buffer(const std::string& name, size_t size);
  /// A real eventfd of this process named `name` (created on first use), for SET_IRQS.
  int eventfd(const std::string& name);
  /// Waits up to `timeout_ms` for eventfd `name` to be signalled and consumes it: the count, or
  /// 0 on timeout.
  long wait_eventfd(const std::string& name, int timeout_ms);

 private:
  std::map<std::string, int> fds_;
  struct Buf {
    void* p;
    size_t size;
  };
  std::map<std::string, Buf> bufs_;
  std::map<std::string, int> eventfds_;
};

/// One call and what the kernel answers: `value` (when expect_value) or -errno.
struct Step {
  std::string what;
  std::function<long(Env&)> call;
  long expect;  // >= 0: that value; < 0: -errno; kAnyFd: any fd (>= 0)
  static constexpr long kAnyFd = -100000;
  static constexpr long kPositive = -100001;  // any value > 0
};

struct Scenario {
  std::string name;
  std::string kernel_function;  // whose behaviour it encodes, e.g. "vfio_group_fops_open"
  Setup setup;
  std::vector<Step> steps;
};

/// Every scenario, in a stable order.
const std::vector<Scenario>& all_scenarios();

struct Outcome {
  std::string scenario;
  bool skipped = false;
  bool passed = false;
  std::string detail;         // first mismatch: step, expected, got
  std::vector<long> results;  // what each step returned (for cross-provider comparison)
};

/// Runs one scenario on a fresh world of `provider`.
Outcome run(const Scenario& s, Provider& provider);

/// Whether `got` meets a step's expectation `expect` (a value, -errno, kAnyFd or kPositive).
bool result_matches(long expect, long got);

/// "-EEXIST", "0", "fd", ">0": how an expected or actual result reads in reports.
std::string describe(long v);

// Registration of the scenario tables (one file per area).
void add_container_scenarios(std::vector<Scenario>& out);
void add_group_scenarios(std::vector<Scenario>& out);
void add_type1_scenarios(std::vector<Scenario>& out);
void add_noiommu_scenarios(std::vector<Scenario>& out);
void add_iommufd_scenarios(std::vector<Scenario>& out);
void add_vfio_pci_scenarios(std::vector<Scenario>& out);

}  // namespace uvfio::conformance
