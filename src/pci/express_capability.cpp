// PCI Express capability (PCI_CAP_ID_EXP), version 2, for an endpoint or a root-complex
// integrated endpoint. vfio-pci lets the driver write Device Control (except Phantom Functions)
// and Device Control 2 (except ARI); MPS, MRRS and Initiate FLR are virtualized
// (init_pci_cap_exp_perm, vfio_exp_config_write). Everything else is read-only.
#include <linux/pci_regs.h>

#include <algorithm>

#include "pci/config_space_impl.h"

namespace uvfio::pci {

namespace {

// Device Control bits the function implements as read-write: error reporting enables, Relaxed
// Ordering, Max Payload Size, No Snoop, Max Read Request Size. Extended Tag, Phantom Functions and
// Aux Power are not supported (read-only 0); Initiate FLR reads 0.
constexpr uint32_t kDevctlWritable = PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE |
                                     PCI_EXP_DEVCTL_FERE | PCI_EXP_DEVCTL_URRE |
                                     PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_PAYLOAD |
                                     PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ;
// Power-on Device Control: Relaxed Ordering and No Snoop enabled, MRRS 512 bytes (PCIe spec).
constexpr uint32_t kDevctlReset =
    PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ_512B;
constexpr uint32_t kDevstaW1c =
    PCI_EXP_DEVSTA_CED | PCI_EXP_DEVSTA_NFED | PCI_EXP_DEVSTA_FED | PCI_EXP_DEVSTA_URD;
// A 2.5 GT/s x1 link, as an emulated endpoint reports.
constexpr uint32_t kLink = PCI_EXP_LNKCAP_SLS_2_5GB | (1U << 4);

}  // namespace

size_t ConfigSpace::Impl::exp_length(const ExpressSpec& spec) {
  // vfio_cap_len: a v2 integrated endpoint has no link registers.
  return spec.port_type == PCI_EXP_TYPE_RC_END ? PCI_CAP_EXP_RC_ENDPOINT_SIZEOF_V2
                                               : PCI_CAP_EXP_ENDPOINT_SIZEOF_V2;
}

void ConfigSpace::Impl::init_exp(size_t pos, uint8_t next, const ExpressSpec& spec) {
  exp_pos = static_cast<uint8_t>(pos);
  exp = spec;
  const bool link = spec.port_type != PCI_EXP_TYPE_RC_END;
  define_cap_header(pos, PCI_CAP_ID_EXP, next);
  phys.define(pos + PCI_EXP_FLAGS, 2, 2U | uint32_t{spec.port_type} << 4);
  phys.define(pos + PCI_EXP_DEVCAP, 4, PCI_EXP_DEVCAP_RBER | (spec.flr ? PCI_EXP_DEVCAP_FLR : 0));
  phys.define(pos + PCI_EXP_DEVCTL, 2, kDevctlReset, kDevctlWritable);
  phys.define(pos + PCI_EXP_DEVSTA, 2, 0, 0, kDevstaW1c);
  if (link) {
    phys.define(pos + PCI_EXP_LNKCAP, 4, kLink);
    phys.define(pos + PCI_EXP_LNKCTL, 2, 0, PCI_EXP_LNKCTL_CCC | PCI_EXP_LNKCTL_ES);
    phys.define(pos + PCI_EXP_LNKSTA, 2, kLink & 0xffff);
    phys.define(pos + PCI_EXP_LNKCAP2, 4, PCI_EXP_LNKCAP2_SLS_2_5GB);
    phys.define(pos + PCI_EXP_LNKCTL2, 2, PCI_EXP_LNKCTL2_TLS_2_5GT);
  }
  // Device Capabilities 2 / Control 2: no optional features, so nothing is writable.
  phys.define(pos + PCI_EXP_DEVCAP2, 4, 0);
  phys.define(pos + PCI_EXP_DEVCTL2, 2, 0);

  claim_cap(pos, exp_length(spec), PCI_CAP_ID_EXP);
  perms.set16(pos + PCI_EXP_DEVCTL,
              PCI_EXP_DEVCTL_BCR_FLR | PCI_EXP_DEVCTL_PAYLOAD | PCI_EXP_DEVCTL_READRQ,
              static_cast<uint16_t>(~PCI_EXP_DEVCTL_PHANTOM));
  perms.set16(pos + PCI_EXP_DEVCTL2, 0, static_cast<uint16_t>(~PCI_EXP_DEVCTL2_ARI));
}

void ConfigSpace::Impl::exp_write(size_t pos, unsigned count, uint32_t val, size_t offset,
                                  Pending& ev) {
  (void)offset;
  const size_t ctrl = *exp_pos + PCI_EXP_DEVCTL;
  const uint32_t readrq = vread(ctrl, 2) & PCI_EXP_DEVCTL_READRQ;
  default_write(pos, count, val);
  // Initiate FLR is virtualized: it always reads back 0, and a 1 resets the function when it
  // advertises FLR (the reset itself is the core's, through events.flr).
  uint32_t c = vread(ctrl, 2);
  if ((c & PCI_EXP_DEVCTL_BCR_FLR) != 0) {
    c &= ~uint32_t{PCI_EXP_DEVCTL_BCR_FLR};
    vwrite(ctrl, 2, c);
    if ((phys.read(*exp_pos + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_FLR) != 0) ev.flr = true;
  }
  // MPS stays virtual (it needs a system-wide view); MRRS is passed on with the function's MPS as
  // its floor, as the kernel does.
  if ((c & PCI_EXP_DEVCTL_READRQ) != readrq) {
    const uint32_t mps = (phys.read(ctrl, 2) & PCI_EXP_DEVCTL_PAYLOAD) >> 5;
    const uint32_t rq = std::max((c & PCI_EXP_DEVCTL_READRQ) >> 12, mps);
    phys.update(ctrl, 2, PCI_EXP_DEVCTL_READRQ, rq << 12);
  }
}

}  // namespace uvfio::pci
