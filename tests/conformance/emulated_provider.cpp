#include "emulated_provider.h"

#include <unistd.h>

#include "uvfio/devices/edu.h"
#include "uvfio/pci/device_model.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"

namespace uvfio::conformance {
namespace {

using namespace uvfio::vfio;

struct EmulatedWorld : World {
  std::shared_ptr<Host> host;
  std::unique_ptr<EmulatedSystem> system;
};

class EmulatedProvider : public Provider {
 public:
  std::string name() const override { return "emulated"; }

  std::unique_ptr<World> make(Setup setup) override {
    HostOptions opts;
    opts.enable_unsafe_noiommu_mode = setup == Setup::kNoIommuGroup ||
                                      setup == Setup::kNoIommuAndViable ||
                                      setup == Setup::kUnprivileged;
    if (setup == Setup::kLowMemlock) opts.memlock_limit = kLowMemlockBytes;
    auto w = std::make_unique<EmulatedWorld>();
    w->host = std::make_shared<Host>(opts);
    Host& h = *w->host;
    // Every device is uvfio's edu behind its vfio-pci core, as the kernel world's are QEMU's edu.
    auto dev = [](const std::string& name, bool iommu = true) {
      std::shared_ptr<VfioDeviceOps> ops;
      if (auto model = devices::make_edu_device(); model.ok()) {
        if (auto core = pci::make_vfio_pci_device(std::move(*model)); core.ok()) {
          ops = std::move(*core);
        }
      }
      return DeviceSpec{name, DriverState::kVfio, std::move(ops), iommu};
    };
    auto group_path = [&](int id, bool noiommu) {
      return (noiommu ? "/dev/vfio/noiommu-" : "/dev/vfio/") + std::to_string(id);
    };
    auto cdev_path = [&](const std::string& name) {
      return "/dev/vfio/devices/vfio" + std::to_string(h.device(name)->cdev_index());
    };
    const std::string d1 = "0000:00:03.0", d2 = "0000:00:04.0";
    switch (setup) {
      case Setup::kEduDevice: {
        DeviceSpec spec = dev(d1);
        if (!spec.ops) return nullptr;
        w->group = group_path(*h.add_device(std::move(spec)), false);
        w->device = d1;
        w->cdev = cdev_path(d1);
        break;
      }
      case Setup::kViableGroup:
      case Setup::kLowMemlock:
      case Setup::kNoIommuDisabled:
      case Setup::kGroupOtherDriver:
      case Setup::kGroupStubDriver: {
        int g = *h.add_device(dev(d1));
        if (setup == Setup::kGroupOtherDriver) {
          (void)h.add_device({"0000:00:03.1", DriverState::kOther, nullptr, true}, g);
        } else if (setup == Setup::kGroupStubDriver) {
          (void)h.add_device({"0000:00:03.1", DriverState::kAllowed, nullptr, true}, g);
        }
        w->group = group_path(g, false);
        w->device = d1;
        w->cdev = cdev_path(d1);
        break;
      }
      case Setup::kTwoGroups: {
        w->group = group_path(*h.add_device(dev(d1)), false);
        w->group2 = group_path(*h.add_device(dev(d2)), false);
        w->device = d1;
        w->device2 = d2;
        w->cdev = cdev_path(d1);
        break;
      }
      case Setup::kNoIommuGroup:
      case Setup::kNoIommuAndViable:
      case Setup::kUnprivileged: {
        w->group = group_path(*h.add_device(dev(d1, false)), true);
        w->device = d1;
        w->cdev = cdev_path(d1);
        if (setup != Setup::kNoIommuGroup) {
          w->group2 = group_path(*h.add_device(dev(d2)), false);
          w->device2 = d2;
        }
        break;
      }
    }
    Credentials creds = Credentials::privileged("conformance", static_cast<int>(::getpid()));
    if (setup == Setup::kUnprivileged) creds.cap_sys_rawio = false;
    if (setup == Setup::kLowMemlock) creds.cap_ipc_lock = false;
    w->system = std::make_unique<EmulatedSystem>(w->host, creds);
    w->sys = w->system.get();
    w->page_size = opts.iommu_page_size;
    return w;
  }

  void destroy(std::unique_ptr<World> world) override { world.reset(); }
};

}  // namespace

std::unique_ptr<Provider> make_emulated_provider() {
  return std::make_unique<EmulatedProvider>();
}

}  // namespace uvfio::conformance
