// MSI-X capability (PCI_CAP_ID_MSIX). The kernel gives it no permission bits: reads come from the
// function (Enable follows SET_IRQS, table size and Table/PBA offsets are read-only) and writes
// are dropped.
#include <linux/pci_regs.h>

#include "pci/config_space_impl.h"

namespace uvfio::pci {

size_t ConfigSpace::Impl::msix_length() {
  return PCI_CAP_MSIX_SIZEOF;
}

void ConfigSpace::Impl::init_msix(size_t pos, uint8_t next, const MsixSpec& spec) {
  msix_pos = static_cast<uint8_t>(pos);
  msix = spec;
  define_cap_header(pos, PCI_CAP_ID_MSIX, next);
  phys.define(pos + PCI_MSIX_FLAGS, 2, (spec.vectors - 1) & PCI_MSIX_FLAGS_QSIZE,
              PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
  phys.define(pos + PCI_MSIX_TABLE, 4, spec.table_offset | spec.table_bar);
  phys.define(pos + PCI_MSIX_PBA, 4, spec.pba_offset | spec.pba_bar);

  claim_cap(pos, PCI_CAP_MSIX_SIZEOF, PCI_CAP_ID_MSIX);
  // Deliberate difference: the kernel drops every write here, because the host owns the real
  // table. uvfio emulates the table (per-vector masks and the PBA) for the driver, so it also lets
  // the driver set the Function Mask, passed through to the function.
  perms.set16(pos + PCI_MSIX_FLAGS, 0, PCI_MSIX_FLAGS_MASKALL);
}

void ConfigSpace::Impl::msix_write(size_t pos, unsigned count, uint32_t val, Pending& ev) {
  const size_t fpos = *msix_pos + PCI_MSIX_FLAGS;
  const uint32_t before = phys.read(fpos, 2) & PCI_MSIX_FLAGS_MASKALL;
  default_write(pos, count, val);
  if ((phys.read(fpos, 2) & PCI_MSIX_FLAGS_MASKALL) != before) ev.msix_function_mask = true;
}

}  // namespace uvfio::pci
