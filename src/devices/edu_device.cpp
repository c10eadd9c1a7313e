#include "devices/edu_device.h"

#include <cerrno>
#include <new>
#include <system_error>

namespace uvfio::devices {

using Reg = EduDmaEngine::Reg;

EduDevice::EduDevice(const EduOptions& options)
    : options_(options),
      factorial_(irq_, options.factorial_delay),
      dma_(gate_, irq_, options.dma_mask, options.dma_delay) {}

EduDevice::~EduDevice() {
  // No bus use from here on; the units' destructors then stop and join their threads.
  gate_.close();
}

pci::DeviceLayout EduDevice::layout() const {
  pci::DeviceLayout l;
  l.vendor_id = kEduVendorId;
  l.device_id = kEduDeviceId;
  l.subsystem_vendor_id = 0x1af4;  // QEMU's defaults for devices that set none
  l.subsystem_id = 0x1100;
  l.revision = kEduRevision;
  // QEMU writes PCI_CLASS_OTHERS (0xff) into the class/sub-class word: base class 0x00.
  l.class_code = kEduClassCode;
  l.interrupt_pin = 1;  // INTA#
  l.bars[0] = pci::BarSpec{.type = pci::BarType::kMem32,
                           .size = kEduBar0Size,
                           .prefetchable = false,
                           .memory_backed = false};
  // msi_init(pdev, 0, 1, true, false): 1 vector, 64-bit, no per-vector masking; QEMU places it
  // at 0x40, as the core does with the first capability.
  l.capabilities.emplace_back(
      pci::MsiSpec{.vectors = 1, .address64 = true, .per_vector_mask = false});
  l.name = "edu";
  return l;
}

void EduDevice::attach(pci::DeviceBus& bus) {
  gate_.attach(bus);
}

void EduDevice::opened() {
  gate_.open();
}

void EduDevice::closed() {
  // A transfer still waiting for its timer is cancelled (nothing copied, bit 0 cleared, no
  // interrupt): the driver that programmed it is gone and so may be its IOVA mappings, and the
  // next user finds an idle engine. A transfer already running finishes; close() waits for it.
  // The factorial worker keeps computing (it never needs the bus); its interrupt, if any, only
  // updates irq_status.
  dma_.cancel();
  gate_.close();
}

std::vector<vfio::Doorbell> EduDevice::doorbells() const {
  return {vfio::Doorbell{0, edu_reg::kIrqRaise, 4, kEduDoorbellValue}};
}

void EduDevice::reset() {
  // QEMU's edu has no reset handler: a function or bus reset restores config space only (the core
  // does that, including deasserting INTx) and every edu register keeps its value. A DMA in
  // flight and a factorial in progress carry on.
}

uint64_t EduDevice::mmio_read(unsigned bar, uint64_t offset, unsigned size) {
  if (bar != 0 || offset >= kEduBar0Size) return DeviceModel::mmio_read(bar, offset, size);
  // QEMU's memory core admits 4- and 8-byte aligned accesses only; it answers the others with 0
  // (a decode error x86 ignores) before the device sees them.
  if ((size != 4 && size != 8) || offset % size != 0) return 0;
  // Below 0x80 the device itself answers 8-byte reads with all ones.
  if (offset < 0x80 && size == 8) return ~uint64_t{0};
  const uint64_t v = read_reg(offset);
  return size == 4 ? (v & 0xffffffffU) : v;
}

void EduDevice::mmio_write(unsigned bar, uint64_t offset, unsigned size, uint64_t value) {
  if (bar != 0 || offset >= kEduBar0Size) return;
  if ((size != 4 && size != 8) || offset % size != 0) return;  // dropped by QEMU's memory core
  if (offset < 0x80 && size == 8) return;                      // ignored by the device
  // A 4-byte write is zero-extended: a 64-bit DMA register written with 4 bytes loses its top.
  write_reg(offset, size == 4 ? (value & 0xffffffffU) : value);
}

uint64_t EduDevice::read_reg(uint64_t offset) const {
  switch (offset) {
    case edu_reg::kIdentification:
      return kEduIdentification;
    case edu_reg::kLiveness:
      return liveness_.load();
    case edu_reg::kFactorial:
      return factorial_.value();
    case edu_reg::kStatus:
      return factorial_.status();
    case edu_reg::kIrqStatus:
      return irq_.status();
    case edu_reg::kDmaSrc:
      return dma_.read(Reg::kSrc);
    case edu_reg::kDmaDst:
      return dma_.read(Reg::kDst);
    case edu_reg::kDmaCount:
      return dma_.read(Reg::kCount);
    case edu_reg::kDmaCmd:
      return dma_.read(Reg::kCmd);
    default:
      // Undecoded, write-only (0x60, 0x64) and the upper halves of the DMA registers.
      return ~uint64_t{0};
  }
}

void EduDevice::write_reg(uint64_t offset, uint64_t value) {
  const auto v32 = static_cast<uint32_t>(value);
  switch (offset) {
    case edu_reg::kLiveness:
      liveness_.store(~v32);
      break;
    case edu_reg::kFactorial:
      factorial_.write_value(v32);
      break;
    case edu_reg::kStatus:
      factorial_.write_status(v32);
      break;
    case edu_reg::kIrqRaise:
      irq_.raise(v32);
      break;
    case edu_reg::kIrqAck:
      irq_.ack(v32);
      break;
    case edu_reg::kDmaSrc:
      dma_.write(Reg::kSrc, value);
      break;
    case edu_reg::kDmaDst:
      dma_.write(Reg::kDst, value);
      break;
    case edu_reg::kDmaCount:
      dma_.write(Reg::kCount, value);
      break;
    case edu_reg::kDmaCmd:
      dma_.write(Reg::kCmd, value);
      break;
    default:
      break;  // read-only (0x00, 0x24) or undecoded
  }
}

Result<std::shared_ptr<pci::DeviceModel>> make_edu_device(const EduOptions& options) {
  const auto ok_delay = [](std::chrono::microseconds d) {
    return d.count() >= 0 && d <= EduOptions::kMaxDelay;
  };
  if (!ok_delay(options.dma_delay) || !ok_delay(options.factorial_delay)) return Errno{EINVAL};
  try {
    return std::shared_ptr<pci::DeviceModel>(std::make_shared<EduDevice>(options));
  } catch (const std::system_error&) {
    return Errno{EAGAIN};
  } catch (const std::bad_alloc&) {
    return Errno{ENOMEM};
  }
}

}  // namespace uvfio::devices
