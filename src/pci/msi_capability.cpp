// MSI capability (PCI_CAP_ID_MSI): 1-32 vectors, 32- or 64-bit address, optional per-vector
// masking. Message Control's low byte, the address and the data are virtualized; the mask and
// pending bits pass through to the function (init_pci_cap_msi_perm, vfio_msi_config_write).
#include <linux/pci_regs.h>

#include <bit>

#include "pci/config_space_impl.h"

namespace uvfio::pci {

namespace {

constexpr uint32_t kAll = 0xffffffff;

}  // namespace

size_t ConfigSpace::Impl::msi_length(const MsiSpec& spec) {
  size_t len = 10;  // ID, next, control, address, data
  if (spec.address64) len += 4;
  if (spec.per_vector_mask) len += 10;
  return len;
}

size_t ConfigSpace::Impl::msi_mask_pos() const {
  return *msi_pos + (msi.address64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
}

size_t ConfigSpace::Impl::msi_pending_pos() const {
  return *msi_pos + (msi.address64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32);
}

void ConfigSpace::Impl::init_msi(size_t pos, uint8_t next, const MsiSpec& spec) {
  msi_pos = static_cast<uint8_t>(pos);
  msi = spec;
  const auto mmc = static_cast<uint32_t>(std::countr_zero(spec.vectors));
  uint32_t flags = mmc << 1;
  if (spec.address64) flags |= PCI_MSI_FLAGS_64BIT;
  if (spec.per_vector_mask) flags |= PCI_MSI_FLAGS_MASKBIT;
  define_cap_header(pos, PCI_CAP_ID_MSI, next);
  phys.define(pos + PCI_MSI_FLAGS, 2, flags, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
  phys.define(pos + PCI_MSI_ADDRESS_LO, 4, 0, 0xfffffffc);
  const uint32_t vectors = spec.vectors == 32 ? kAll : (1U << spec.vectors) - 1;
  const size_t data = spec.address64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32;
  if (spec.address64) phys.define(pos + PCI_MSI_ADDRESS_HI, 4, 0, kAll);
  phys.define(pos + data, 2, 0, 0xffff);
  if (spec.per_vector_mask) {
    phys.define(msi_mask_pos(), 4, 0, vectors);
    phys.define(msi_pending_pos(), 4, 0);  // set by the device only
  }

  claim_cap(pos, msi_length(spec), PCI_CAP_ID_MSI);
  // The whole low byte of Message Control is virtualized and writable, including the read-only
  // Multiple Message Capable and 64-bit bits (kernel quirk: a driver's write lands in vconfig
  // and reads back). Enable and QSIZE are fixed up by the write handler.
  perms.set8(pos + PCI_MSI_FLAGS, 0xff, 0xff);
  perms.set32(pos + PCI_MSI_ADDRESS_LO, kAll, kAll);
  if (spec.address64) perms.set32(pos + PCI_MSI_ADDRESS_HI, kAll, kAll);
  perms.set16(pos + data, 0xffff, 0xffff);
  if (spec.per_vector_mask) {
    perms.set32(msi_mask_pos(), 0, kAll);
    perms.set32(msi_pending_pos(), 0, kAll);  // the function ignores writes
  }
}

void ConfigSpace::Impl::msi_write(size_t pos, unsigned count, uint32_t val, size_t offset,
                                  Pending& ev) {
  const uint32_t old_mask = msi.per_vector_mask ? phys.read(msi_mask_pos(), 4) : 0;
  default_write(pos, count, val);
  // As vfio_msi_config_write: any write that reaches Message Control (the kernel's test also
  // matches a write ending right before it, e.g. one to the next pointer) re-derives it. Enable
  // only sticks while SET_IRQS has MSI enabled, QSIZE is clamped to what SET_IRQS allocated, and
  // the result goes to both vconfig and the function.
  if (offset <= PCI_MSI_FLAGS && offset + count >= PCI_MSI_FLAGS) {
    const size_t fpos = *msi_pos + PCI_MSI_FLAGS;
    uint32_t flags = vread(fpos, 2);
    if (!msi_irq_active) flags &= ~uint32_t{PCI_MSI_FLAGS_ENABLE};
    if (((flags & PCI_MSI_FLAGS_QSIZE) >> 4) > msi_qmax) {
      flags &= ~uint32_t{PCI_MSI_FLAGS_QSIZE};
      flags |= msi_qmax << 4;
    }
    vwrite(fpos, 2, flags);
    phys.write(fpos, 2, flags);
  }
  if (msi.per_vector_mask && phys.read(msi_mask_pos(), 4) != old_mask) ev.msi_mask = true;
}

}  // namespace uvfio::pci
