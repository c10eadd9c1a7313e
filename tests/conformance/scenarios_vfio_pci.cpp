// vfio-pci scenarios on QEMU's edu device: region and IRQ info, the config-space table, SET_IRQS
// validation, INTx automasking, MSI and DMA through the IOMMU — the same calls against uvfio's
// edu behind its vfio-pci core and against QEMU's edu behind the kernel's vfio-pci.
#include <linux/pci_regs.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "steps.h"

namespace uvfio::conformance {

using namespace steps;

namespace {

constexpr uint64_t kConfig = uint64_t{VFIO_PCI_CONFIG_REGION_INDEX} << 40;
constexpr uint64_t kBar0 = uint64_t{VFIO_PCI_BAR0_REGION_INDEX} << 40;

// Which field of an info struct a step returns.
enum class Field { kSize, kFlags, kOffset, kCount };

Step region_info(unsigned index, Field f, long expect, uint32_t argsz = sizeof(vfio_region_info)) {
  return custom(
      "VFIO_DEVICE_GET_REGION_INFO(" + std::to_string(index) + ")",
      [=](Env& e) -> long {
        vfio_region_info ri{};
        ri.argsz = argsz;
        ri.index = index;
        long r = e.ioctl("dev", VFIO_DEVICE_GET_REGION_INFO, &ri);
        if (r < 0) return r;
        if (f == Field::kSize) return static_cast<long>(ri.size);
        if (f == Field::kOffset) return static_cast<long>(ri.offset >> 40);
        // MMAP differs on purpose: uvfio cannot trap accesses to a mapped MMIO BAR (docs).
        return static_cast<long>(ri.flags & ~VFIO_REGION_INFO_FLAG_MMAP);
      },
      expect);
}

Step irq_info(unsigned index, Field f, long expect, uint32_t argsz = sizeof(vfio_irq_info)) {
  return custom(
      "VFIO_DEVICE_GET_IRQ_INFO(" + std::to_string(index) + ")",
      [=](Env& e) -> long {
        vfio_irq_info ii{};
        ii.argsz = argsz;
        ii.index = index;
        long r = e.ioctl("dev", VFIO_DEVICE_GET_IRQ_INFO, &ii);
        if (r < 0) return r;
        return static_cast<long>(f == Field::kCount ? ii.count : ii.flags);
      },
      expect);
}

long pread_value(Env& e, uint64_t offset, unsigned size) {
  uint64_t v = 0;
  ssize_t r = e.sys().pread(e.fd("dev"), &v, size, offset);
  if (r < 0) return r;
  if (r != static_cast<ssize_t>(size)) return -EIO;
  return static_cast<long>(v);
}

long pwrite_value(Env& e, uint64_t offset, unsigned size, uint64_t v) {
  return e.sys().pwrite(e.fd("dev"), &v, size, offset);
}

Step cfg_read(uint64_t off, unsigned size, long expect) {
  return custom(
      "config read " + std::to_string(size) + "@" + std::to_string(off),
      [=](Env& e) { return pread_value(e, kConfig + off, size); }, expect);
}
Step cfg_write(uint64_t off, unsigned size, uint64_t v, long expect) {
  return custom(
      "config write " + std::to_string(size) + "@" + std::to_string(off),
      [=](Env& e) { return pwrite_value(e, kConfig + off, size, v); }, expect);
}
// Reads a config field and returns it masked.
Step cfg_read_masked(uint64_t off, unsigned size, uint64_t mask, long expect) {
  return custom(
      "config read " + std::to_string(size) + "@" + std::to_string(off) + " masked",
      [=](Env& e) -> long {
        long v = pread_value(e, kConfig + off, size);
        return v < 0 ? v : static_cast<long>(static_cast<uint64_t>(v) & mask);
      },
      expect);
}
// Sets Command bits (read-modify-write of the 16-bit register).
Step cfg_command_set(uint16_t bits) {
  return custom(
      "config Command |= " + std::to_string(bits),
      [=](Env& e) -> long {
        long v = pread_value(e, kConfig + PCI_COMMAND, 2);
        if (v < 0) return v;
        return pwrite_value(e, kConfig + PCI_COMMAND, 2, static_cast<uint64_t>(v) | bits);
      },
      2);
}
Step bar0_read(uint64_t off, long expect, unsigned size = 4) {
  return custom(
      "BAR0 read " + std::to_string(size) + "@" + std::to_string(off),
      [=](Env& e) { return pread_value(e, kBar0 + off, size); }, expect);
}
Step bar0_write(uint64_t off, uint64_t v, unsigned size = 4) {
  return custom(
      "BAR0 write " + std::to_string(size) + "@" + std::to_string(off),
      [=](Env& e) { return pwrite_value(e, kBar0 + off, size, v); }, static_cast<long>(size));
}

// VFIO_DEVICE_SET_IRQS with a payload built from `data` (eventfd names, "-1", or BOOL bytes).
struct IrqSet {
  uint32_t flags;
  unsigned index;
  uint32_t start = 0;
  uint32_t count = 0;
  std::vector<std::string> eventfds;  // DATA_EVENTFD: names, or "-1"
  std::vector<uint8_t> bools;         // DATA_BOOL
  int32_t argsz_delta = 0;            // added to the exact argsz
};
IrqSet irqs(uint32_t flags, unsigned index, uint32_t start, uint32_t count,
            std::vector<std::string> eventfds = {}, std::vector<uint8_t> bools = {},
            int32_t argsz_delta = 0) {
  return {flags, index, start, count, std::move(eventfds), std::move(bools), argsz_delta};
}
Step set_irqs(const std::string& what, IrqSet s, long expect) {
  return custom(
      "VFIO_DEVICE_SET_IRQS " + what,
      [s](Env& e) -> long {
        std::vector<uint8_t> payload;
        for (const auto& name : s.eventfds) {
          const int32_t fd = name == "-1" ? -1 : e.eventfd(name);
          const auto* b = reinterpret_cast<const uint8_t*>(&fd);
          payload.insert(payload.end(), b, b + sizeof fd);
        }
        payload.insert(payload.end(), s.bools.begin(), s.bools.end());
        std::vector<uint8_t> buf(sizeof(vfio_irq_set) + payload.size());
        vfio_irq_set hdr{};
        hdr.argsz = static_cast<uint32_t>(static_cast<int64_t>(buf.size()) + s.argsz_delta);
        hdr.flags = s.flags;
        hdr.index = s.index;
        hdr.start = s.start;
        hdr.count = s.count;
        std::memcpy(buf.data(), &hdr, sizeof hdr);
        if (!payload.empty()) std::memcpy(buf.data() + sizeof hdr, payload.data(), payload.size());
        return e.ioctl("dev", VFIO_DEVICE_SET_IRQS, buf.data());
      },
      expect);
}
constexpr uint32_t kEventfdTrigger = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
constexpr uint32_t kNoneTrigger = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
constexpr uint32_t kNoneUnmask = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK;
constexpr uint32_t kNoneMask = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK;

// Signalled (count > 0) or not (0) within the time. Interrupts from QEMU's edu cross a TCG guest,
// so "signalled" waits long; "not signalled" waits long enough for a delivery to have happened.
Step signalled(const std::string& name) {
  return custom(
      "eventfd " + name + " signalled", [name](Env& e) { return e.wait_eventfd(name, 2000); },
      Step::kPositive);
}
Step quiet(const std::string& name) {
  return custom(
      "eventfd " + name + " stays quiet", [name](Env& e) { return e.wait_eventfd(name, 300); }, 0);
}

// Polls the edu DMA command register until the engine is idle: 0, or -ETIMEDOUT.
long wait_dma_idle(Env& e) {
  for (int i = 0; i < 500; ++i) {
    long cmd = pread_value(e, kBar0 + 0x98, 4);
    if (cmd < 0) return cmd;
    if ((cmd & 1) == 0) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -ETIMEDOUT;
}

// Programs one edu DMA (4-byte register writes) and waits for it: 0 or -errno.
long edu_dma(Env& e, uint64_t src, uint64_t dst, uint64_t count, uint64_t cmd) {
  for (auto [off, v] :
       {std::pair<uint64_t, uint64_t>{0x80, src}, {0x88, dst}, {0x90, count}, {0x98, cmd}}) {
    long r = pwrite_value(e, kBar0 + off, 8, v);
    if (r < 0) return r;
  }
  return wait_dma_idle(e);
}

}  // namespace

void add_vfio_pci_scenarios(std::vector<Scenario>& out) {
  const auto E = Setup::kEduDevice;
  using V = std::vector<Step>;
  const auto open_dev = [] { return legacy_setup() + V{get_device_fd("group", "dev", kFd)}; };

  out.push_back({"vfio-pci: device info: a PCI device with 9 regions, 5 IRQ indexes",
                 "vfio_pci_ioctl_get_info", E,
                 open_dev() + V{custom(
                                    "VFIO_DEVICE_GET_INFO flags/num_irqs",
                                    [](Env& e) -> long {
                                      vfio_device_info i{};
                                      i.argsz = sizeof i;
                                      long r = e.ioctl("dev", VFIO_DEVICE_GET_INFO, &i);
                                      if (r < 0) return r;
                                      // Root-bus function without FLR or PM: no reset method.
                                      return i.flags * 100 + i.num_irqs;
                                    },
                                    VFIO_DEVICE_FLAGS_PCI * 100 + 5),
                                device_info("dev", 9), device_info("dev", err(EINVAL), 8)}});
  out.push_back(
      {"vfio-pci: region info of edu's BARs", "vfio_pci_ioctl_get_region_info", E,
       open_dev() + V{region_info(0, Field::kSize, 0x100000),
                      region_info(0, Field::kFlags,
                                  VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE),
                      region_info(0, Field::kOffset, 0), region_info(1, Field::kSize, 0),
                      region_info(1, Field::kFlags, 0), region_info(5, Field::kSize, 0),
                      region_info(5, Field::kOffset, 5)}});
  out.push_back(
      {"vfio-pci: region info of ROM, CONFIG, VGA and beyond", "vfio_pci_ioctl_get_region_info", E,
       open_dev() + V{region_info(VFIO_PCI_ROM_REGION_INDEX, Field::kSize, 0),
                      region_info(VFIO_PCI_CONFIG_REGION_INDEX, Field::kSize, 256),
                      region_info(VFIO_PCI_CONFIG_REGION_INDEX, Field::kFlags,
                                  VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE),
                      region_info(VFIO_PCI_CONFIG_REGION_INDEX, Field::kOffset, 7),
                      region_info(VFIO_PCI_VGA_REGION_INDEX, Field::kSize, err(EINVAL)),
                      region_info(VFIO_PCI_NUM_REGIONS, Field::kSize, err(EINVAL)),
                      region_info(0, Field::kSize, err(EINVAL), 16)}});
  out.push_back(
      {"vfio-pci: IRQ info of the five indexes", "vfio_pci_ioctl_get_irq_info", E,
       open_dev() +
           V{irq_info(VFIO_PCI_INTX_IRQ_INDEX, Field::kCount, 1),
             irq_info(VFIO_PCI_INTX_IRQ_INDEX, Field::kFlags,
                      VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED),
             irq_info(VFIO_PCI_MSI_IRQ_INDEX, Field::kCount, 1),
             irq_info(VFIO_PCI_MSI_IRQ_INDEX, Field::kFlags,
                      VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE),
             irq_info(VFIO_PCI_MSIX_IRQ_INDEX, Field::kCount, 0),
             irq_info(VFIO_PCI_MSIX_IRQ_INDEX, Field::kFlags,
                      VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE),
             irq_info(VFIO_PCI_ERR_IRQ_INDEX, Field::kCount, err(EINVAL)),  // not PCIe
             irq_info(VFIO_PCI_REQ_IRQ_INDEX, Field::kCount, 1),
             irq_info(VFIO_PCI_REQ_IRQ_INDEX, Field::kFlags,
                      VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE),
             irq_info(VFIO_PCI_NUM_IRQS, Field::kCount, err(EINVAL)),
             irq_info(VFIO_PCI_INTX_IRQ_INDEX, Field::kCount, err(EINVAL), 8)}});
  out.push_back(
      {"vfio-pci: config header of edu", "vfio_config_init", E,
       open_dev() +
           V{cfg_read(PCI_VENDOR_ID, 4, 0x11e81234), cfg_read(PCI_CLASS_REVISION, 4, 0x00ff0010),
             cfg_read(PCI_HEADER_TYPE, 1, 0), cfg_read(PCI_SUBSYSTEM_VENDOR_ID, 4, 0x11001af4),
             cfg_read(PCI_CAPABILITY_LIST, 1, 0x40),
             cfg_read_masked(PCI_STATUS, 2, PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST),
             cfg_read(PCI_INTERRUPT_PIN, 1, 1), cfg_read(0x40, 1, PCI_CAP_ID_MSI),
             cfg_read(0x41, 1, 0),
             cfg_read_masked(0x42, 2,
                             PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_QMASK | PCI_MSI_FLAGS_MASKBIT,
                             PCI_MSI_FLAGS_64BIT)}});
  out.push_back(
      {"vfio-pci: read-only header bits ignore writes", "vfio_default_config_write", E,
       open_dev() + V{cfg_write(PCI_VENDOR_ID, 2, 0xbeef, 2), cfg_read(PCI_VENDOR_ID, 2, 0x1234),
                      cfg_write(PCI_CLASS_REVISION, 4, 0xffffffff, 4),
                      cfg_read(PCI_CLASS_REVISION, 4, 0x00ff0010),
                      cfg_write(PCI_INTERRUPT_PIN, 1, 4, 1), cfg_read(PCI_INTERRUPT_PIN, 1, 1),
                      cfg_write(PCI_INTERRUPT_LINE, 1, 0x5a, 1),
                      cfg_read(PCI_INTERRUPT_LINE, 1, 0x5a)}});
  out.push_back({"vfio-pci: BAR sizing probe is virtualized", "vfio_bar_fixup", E,
                 open_dev() + V{cfg_write(PCI_BASE_ADDRESS_0, 4, 0xffffffff, 4),
                                cfg_read(PCI_BASE_ADDRESS_0, 4, 0xfff00000),
                                cfg_write(PCI_BASE_ADDRESS_0, 4, 0xfeb00000, 4),
                                cfg_read(PCI_BASE_ADDRESS_0, 4, 0xfeb00000),
                                cfg_write(PCI_BASE_ADDRESS_1, 4, 0xffffffff, 4),
                                cfg_read(PCI_BASE_ADDRESS_1, 4, 0),
                                cfg_write(PCI_ROM_ADDRESS, 4, 0xffffffff, 4),
                                cfg_read(PCI_ROM_ADDRESS, 4, 0)}});
  out.push_back({"vfio-pci: config access beyond the config space", "vfio_config_do_rw", E,
                 open_dev() + V{cfg_read(0xfc, 4, 0), cfg_read(0x100, 4, err(EFAULT)),
                                cfg_read(0xfe, 4, err(EFAULT))}});
  out.push_back({"vfio-pci: BAR0 reads edu's identification", "vfio_pci_bar_rw", E,
                 open_dev() + V{bar0_read(0x00, 0x010000ed), bar0_write(0x04, 0x12345678),
                                bar0_read(0x04, static_cast<long>(~0x12345678u))}});
  out.push_back(
      {"vfio-pci: SET_IRQS header validation", "vfio_set_irqs_validate_and_prepare", E,
       open_dev() +
           V{set_irqs("argsz below the header",
                      irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, {}, {}, -4), err(EINVAL)),
             set_irqs("unknown flag", irqs(kNoneTrigger | (1u << 6), VFIO_PCI_INTX_IRQ_INDEX, 0, 1),
                      err(EINVAL)),
             set_irqs(
                 "two data types",
                 irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
                      VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {1}),
                 err(EINVAL)),
             set_irqs("two actions",
                      irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK |
                               VFIO_IRQ_SET_ACTION_UNMASK,
                           VFIO_PCI_INTX_IRQ_INDEX, 0, 1),
                      err(ENOTTY)),
             set_irqs("index past the last", irqs(kNoneTrigger, VFIO_PCI_NUM_IRQS, 0, 1),
                      err(EINVAL)),
             set_irqs("start past count", irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 1, 0),
                      err(EINVAL)),
             set_irqs("count past the end", irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 2),
                      err(EINVAL)),
             set_irqs("start+count wraps",
                      irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 1, 0xffffffff), err(EINVAL)),
             set_irqs("eventfd data too short",
                      irqs(kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {"a"}, {}, -4),
                      err(EINVAL)),
             set_irqs("MSI-X on a function without it",
                      irqs(kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0), err(EINVAL)),
             set_irqs("ERR on a conventional function",
                      irqs(kNoneTrigger, VFIO_PCI_ERR_IRQ_INDEX, 0, 0), err(EINVAL)),
             set_irqs("MSI mask", irqs(kNoneMask, VFIO_PCI_MSI_IRQ_INDEX, 0, 1), err(ENOTTY)),
             set_irqs("MSI unmask", irqs(kNoneUnmask, VFIO_PCI_MSI_IRQ_INDEX, 0, 1), err(ENOTTY)),
             set_irqs("REQ mask", irqs(kNoneMask, VFIO_PCI_REQ_IRQ_INDEX, 0, 1), err(ENOTTY))}});
  out.push_back(
      {"vfio-pci: switching interrupt types needs a disable first", "vfio_pci_set_msi_trigger", E,
       open_dev() +
           V{set_irqs("INTx eventfd",
                      irqs(kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {"intx"}), 0),
             set_irqs("MSI while INTx is on",
                      irqs(kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {"msi"}), err(EINVAL)),
             set_irqs("INTx off", irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), 0),
             set_irqs("MSI eventfd", irqs(kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {"msi"}),
                      0),
             set_irqs("INTx while MSI is on",
                      irqs(kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {"intx"}), err(EINVAL)),
             set_irqs("MSI off", irqs(kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), 0),
             set_irqs("INTx off when already off",
                      irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), err(EINVAL)),
             set_irqs("INTx unmask while INTx is off",
                      irqs(kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), err(EINVAL)),
             set_irqs("MSI off when already off", irqs(kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0),
                      err(EINVAL))}});
  out.push_back(
      {"vfio-pci: INTx is automasked until unmasked", "vfio_intx_handler", E,
       open_dev() +
           V{set_irqs("INTx eventfd",
                      irqs(kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {"intx"}), 0),
             bar0_write(0x60, 0x1), signalled("intx"), bar0_read(0x24, 0x1),
             cfg_read_masked(PCI_STATUS, 2, PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT),
             bar0_write(0x64, 0x1), bar0_write(0x60, 0x2), quiet("intx"),
             set_irqs("unmask while asserted", irqs(kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0),
             signalled("intx"), bar0_write(0x64, 0x2),
             cfg_read_masked(PCI_STATUS, 2, PCI_STATUS_INTERRUPT, 0),
             set_irqs("unmask with the line low", irqs(kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1),
                      0),
             quiet("intx"), bar0_write(0x60, 0x4), signalled("intx"), bar0_write(0x64, 0x4)}});
  out.push_back(
      {"vfio-pci: INTx mask, trigger and BOOL actions", "vfio_pci_set_intx_mask", E,
       open_dev() +
           V{set_irqs("INTx eventfd",
                      irqs(kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {"intx"}), 0),
             set_irqs("mask", irqs(kNoneMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0),
             bar0_write(0x60, 0x1), quiet("intx"),
             set_irqs("unmask (BOOL 1)",
                      irqs(VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK,
                           VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {1}),
                      0),
             signalled("intx"), bar0_write(0x64, 0x1),
             set_irqs("trigger by software", irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0),
             signalled("intx"),
             set_irqs("trigger BOOL 0 does nothing",
                      irqs(VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
                           VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {0}),
                      0),
             quiet("intx")}});
  out.push_back(
      {"vfio-pci: Command.INTx Disable holds the interrupt back", "vfio_basic_config_write", E,
       open_dev() +
           V{set_irqs("INTx eventfd",
                      irqs(kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {"intx"}), 0),
             cfg_command_set(PCI_COMMAND_INTX_DISABLE), bar0_write(0x60, 0x1), quiet("intx"),
             custom(
                 "config Command &= ~INTx Disable",
                 [](Env& e) -> long {
                   long v = pread_value(e, kConfig + PCI_COMMAND, 2);
                   if (v < 0) return v;
                   return pwrite_value(e, kConfig + PCI_COMMAND, 2,
                                       static_cast<uint64_t>(v) & ~PCI_COMMAND_INTX_DISABLE);
                 },
                 2),
             signalled("intx"), bar0_write(0x64, 0x1)}});
  out.push_back(
      {"vfio-pci: MSI is a bus-master write", "vfio_msi_interrupt", E,
       open_dev() + V{set_irqs("MSI eventfd",
                               irqs(kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {"msi"}), 0),
                      cfg_read_masked(0x42, 2, PCI_MSI_FLAGS_ENABLE, 0), bar0_write(0x60, 0x1),
                      quiet("msi"), bar0_write(0x64, 0x1), cfg_command_set(PCI_COMMAND_MASTER),
                      bar0_write(0x60, 0x2), signalled("msi"), bar0_write(0x60, 0x0),
                      signalled("msi"), bar0_write(0x64, 0x2), bar0_read(0x24, 0),
                      set_irqs("MSI vector unassigned",
                               irqs(kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {"-1"}), 0),
                      bar0_write(0x60, 0x1), quiet("msi"), bar0_write(0x64, 0x1)}});
  out.push_back(
      {"vfio-pci: DMA through the IOMMU, and refused outside it", "vfio_iommu_type1_map_dma", E,
       open_dev() + V{map_dma("container", 0x100000, 0x2000, 0),
                      cfg_command_set(PCI_COMMAND_MASTER),
                      custom(
                          "edu DMA RAM -> device -> RAM",
                          [](Env& e) -> long {
                            auto* p = static_cast<uint8_t*>(e.buffer("dma", 1 << 22));
                            for (int i = 0; i < 256; ++i) p[i] = static_cast<uint8_t>(i * 7 + 1);
                            std::memset(p + 0x1000, 0, 256);
                            if (long r = edu_dma(e, 0x100000, 0x40000, 256, 1); r < 0) return r;
                            if (long r = edu_dma(e, 0x40000, 0x101000, 256, 3); r < 0) return r;
                            return std::memcmp(p, p + 0x1000, 256) == 0 ? 0 : -EIO;
                          },
                          0),
                      custom(
                          "edu DMA to an unmapped IOVA writes nothing",
                          [](Env& e) -> long {
                            auto* p = static_cast<uint8_t*>(e.buffer("dma", 1 << 22));
                            std::memset(p + 0x1000, 0xee, 256);
                            if (long r = edu_dma(e, 0x40000, 0x800000, 256, 3); r < 0) return r;
                            return p[0x1000] == 0xee ? 0 : -EIO;
                          },
                          0),
                      custom(
                          "edu DMA from an unmapped IOVA fills the device buffer with zeros",
                          [](Env& e) -> long {
                            auto* p = static_cast<uint8_t*>(e.buffer("dma", 1 << 22));
                            std::memset(p + 0x1000, 0xee, 256);
                            if (long r = edu_dma(e, 0x800000, 0x40000, 256, 1); r < 0) return r;
                            if (long r = edu_dma(e, 0x40000, 0x101000, 256, 3); r < 0) return r;
                            // The IOMMU refuses the read; report the first and last byte the device
                            // got.
                            return p[0x1000] * 1000L + p[0x10ff];
                          },
                          0)}});
}

}  // namespace uvfio::conformance
