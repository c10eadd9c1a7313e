// The vfio-pci core device (vfio_pci_core.c, Linux 6.12): open/close, the device ioctls, region
// read/write/mmap dispatch, and the DeviceBus a model uses.
#include "pci/pci_core.h"

#include <fcntl.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log_format.h"
#include "pci/layout_validation.h"

namespace uvfio::pci {

namespace {

bool bad_uptr(unsigned long p) {
  return p < 4096;
}

void* mmap_error(int e) {
  return reinterpret_cast<void*>(-static_cast<intptr_t>(e));
}

// struct vfio_device_info as 6.12 has it (the 6.1 header lacks the trailing pad).
struct DeviceInfo612 {
  uint32_t argsz;
  uint32_t flags;
  uint32_t num_regions;
  uint32_t num_irqs;
  uint32_t cap_offset;
  uint32_t pad;
};
static_assert(sizeof(DeviceInfo612) == 24);

}  // namespace

PciCore::PciCore(std::shared_ptr<DeviceModel> model, DeviceLayout layout)
    : model_(std::move(model)), layout_(std::move(layout)), pm_(pm_spec(layout_)) {}

Result<std::shared_ptr<PciCore>> PciCore::create(std::shared_ptr<DeviceModel> model) {
  if (!model) return Errno{EINVAL};
  DeviceLayout layout = model->layout();
  if (auto r = validate_layout(layout); !r) return Errno{r.error()};
  std::shared_ptr<PciCore> core(new PciCore(std::move(model), std::move(layout)));
  if (auto r = core->init(); !r) return Errno{r.error()};
  core->model_->attach(*core);
  return core;
}

Result<void> PciCore::init() {
  auto config = ConfigSpace::create(layout_);
  if (!config) return Errno{config.error()};
  config_ = std::move(*config);

  const auto msix = msix_spec(layout_);
  if (msix) {
    // The table delivers through the IrqController, which exists before any vector can fire.
    msix_ = std::make_unique<MsixTable>(
        msix->vectors, [this](unsigned v) { irq_->deliver_msix(v); },
        [this] { return config_->msix_function_masked(); });
  }
  irq_ = std::make_unique<IrqController>(layout_, *config_, msix_.get());

  for (unsigned i = 0; i < bars_.size(); ++i) {
    const BarSpec& spec = layout_.bars[i];
    if (spec.type == BarType::kNone) continue;
    BarWindow table, pba;
    if (msix && msix->table_bar == i) table = {msix->table_offset, msix_->table_bytes()};
    if (msix && msix->pba_bar == i) pba = {msix->pba_offset, msix_->pba_bytes()};
    auto bar = BarRegion::create(i, spec, table, pba);
    if (!bar) return Errno{bar.error()};
    bars_[i] = std::move(*bar);
  }

  ConfigEvents ev;
  ev.command_changed = [this](uint16_t o, uint16_t n) { irq_->command_changed(o, n); };
  ev.flr = [this] { on_flr(); };
  ev.power_state_changed = [this](unsigned o, unsigned n) { on_power_state(o, n); };
  ev.msi_mask_changed = [this] { irq_->msi_mask_changed(); };
  ev.msix_function_mask_changed = [this] {
    if (msix_) msix_->unmask_check();
  };
  config_->set_events(std::move(ev));
  return {};
}

PciCore::~PciCore() {
  close_device();
  // The model's threads may use the bus until it is gone: it goes before the parts it uses.
  model_.reset();
}

bool PciCore::is_open() const {
  std::lock_guard lk(state_mu_);
  return open_;
}

ResetMethod PciCore::reset_method() const {
  std::lock_guard lk(state_mu_);
  return reset_method_;
}

// ------------------------------------------------------------------------------ open / close

int PciCore::open_device(const vfio::DmaContext& dma) {
  std::lock_guard lk(state_mu_);
  if (open_) return -EBUSY;  // the VFIO core opens a device once
  // vfio_pci_core_enable: the reset probe decides reset_works for as long as the device is open;
  // pci_enable_device turns decode on, the function is reset, vfio_config_init rebuilds the
  // driver's view of config space (ConfigSpace::enable does all of that to config space).
  reset_method_ = probe_reset_method(layout_, parent_bus_reset_.load());
  config_->enable();
  if (msix_) msix_->reset();
  if (reset_method_ != ResetMethod::kNone) function_reset("open", false);
  {
    std::lock_guard dlk(dma_mu_);
    dma_ = dma;
    dma_open_ = true;
  }
  open_ = true;
  model_->opened();
  return 0;
}

void PciCore::close_device() {
  std::lock_guard lk(state_mu_);
  if (!open_) return;
  {
    std::lock_guard dlk(dma_mu_);  // pci_clear_master: no DMA from here on
    dma_open_ = false;
  }
  irq_->disable_all(false);
  model_->closed();
  // The kernel marks the device dirty and cleans it with a function reset if it can; otherwise a
  // bus reset waits until the whole bus is unused (vfio_pci_dev_set_try_reset).
  needs_reset_ = true;
  if (reset_method_ != ResetMethod::kNone) {
    function_reset("release", false);
    needs_reset_ = false;
  }
  config_->disable();  // D0, Bus Master off, the state saved at open restored
  if (msix_) msix_->reset();
  {
    std::lock_guard dlk(dma_mu_);
    dma_ = {};
  }
  open_ = false;
}

void PciCore::set_parent_bus_reset(bool available) {
  parent_bus_reset_ = available;
}

bool PciCore::needs_reset() const {
  return needs_reset_.load();
}

// ---------------------------------------------------------------------------------- ioctls

long PciCore::ioctl(unsigned long request, unsigned long arg) {
  switch (request) {
    case VFIO_DEVICE_GET_INFO:
      return get_info(arg);
    case VFIO_DEVICE_GET_REGION_INFO:
      return region_info_ioctl(arg, [this](uint32_t index) { return describe_region(index); });
    case VFIO_DEVICE_GET_IRQ_INFO:
      return irq_->get_irq_info(arg);
    case VFIO_DEVICE_SET_IRQS:
      return irq_->set_irqs(arg);
    case VFIO_DEVICE_RESET:
      return reset_ioctl();
    case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
    case VFIO_DEVICE_PCI_HOT_RESET: {
      // The VFIO core answers these (hot_reset.cpp); without it there is no bus to reset.
      if (bad_uptr(arg)) return -EFAULT;
      uint32_t hdr[2] = {};  // argsz, flags
      std::memcpy(hdr, reinterpret_cast<const void*>(arg), sizeof hdr);
      if (hdr[0] < 12) return -EINVAL;
      if (request == VFIO_DEVICE_PCI_HOT_RESET && hdr[1] != 0) return -EINVAL;
      return -ENODEV;
    }
    default:
      return -ENOTTY;
  }
}

long PciCore::get_info(unsigned long arg) const {
  // vfio_pci_ioctl_get_info: minsz ends at num_irqs; up to the whole 6.12 struct is written
  // back. A plain function has no info capabilities (zPCI is s390's, the AtomicOps one needs
  // completer support the emulated functions do not claim).
  constexpr size_t kMinsz = offsetof(DeviceInfo612, num_irqs) + sizeof(uint32_t);
  if (bad_uptr(arg)) return -EFAULT;
  DeviceInfo612 info{};
  std::memcpy(&info, reinterpret_cast<const void*>(arg), kMinsz);
  if (info.argsz < kMinsz) return -EINVAL;
  info.flags = VFIO_DEVICE_FLAGS_PCI;
  {
    std::lock_guard lk(state_mu_);
    if (reset_method_ != ResetMethod::kNone) info.flags |= VFIO_DEVICE_FLAGS_RESET;
  }
  info.num_regions = VFIO_PCI_NUM_REGIONS;
  info.num_irqs = VFIO_PCI_NUM_IRQS;
  info.cap_offset = 0;
  std::memcpy(reinterpret_cast<void*>(arg), &info, std::min<size_t>(info.argsz, sizeof info));
  return 0;
}

Result<RegionDescription> PciCore::describe_region(uint32_t index) const {
  RegionDescription d;
  switch (index) {
    case VFIO_PCI_BAR0_REGION_INDEX:
    case VFIO_PCI_BAR1_REGION_INDEX:
    case VFIO_PCI_BAR2_REGION_INDEX:
    case VFIO_PCI_BAR3_REGION_INDEX:
    case VFIO_PCI_BAR4_REGION_INDEX:
    case VFIO_PCI_BAR5_REGION_INDEX: {
      const BarRegion* bar = bars_[index].get();
      if (bar == nullptr) return d;  // no BAR (or a 64-bit BAR's upper half): size 0, flags 0
      d.size = bar->size();
      d.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
      const auto areas = bar->mmap_areas();
      if (!areas.empty()) {
        d.flags |= VFIO_REGION_INFO_FLAG_MMAP;
        // Only part of this BAR maps. MSIX_MAPPABLE, the kernel's answer since 4.16, would
        // promise the table pages map too; here they never do (the table is emulated), so the
        // BAR lists its mappable areas instead, as the kernel did before.
        if (bar->has_msix()) add_sparse_mmap_cap(d.caps, areas);
      }
      return d;
    }
    case VFIO_PCI_ROM_REGION_INDEX:
      d.size = layout_.rom_size;
      d.flags = layout_.rom_size != 0 ? VFIO_REGION_INFO_FLAG_READ : 0;
      return d;
    case VFIO_PCI_CONFIG_REGION_INDEX:
      d.size = config_->size();
      d.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
      return d;
    default:  // VGA (no emulated function is a VGA device) and past the last region
      return Errno{EINVAL};
  }
}

long PciCore::reset_ioctl() {
  // vfio_pci_ioctl_reset: EINVAL unless a reset method exists; D0 first, then the reset.
  {
    std::lock_guard lk(state_mu_);
    if (reset_method_ == ResetMethod::kNone) return -EINVAL;
  }
  function_reset("VFIO_DEVICE_RESET", true);  // pci_try_reset_function, D0 included
  return 0;
}

// ------------------------------------------------------------------------ read/write/mmap

ssize_t PciCore::read(void* buf, size_t count, uint64_t offset) {
  return rw(buf, count, offset, false);
}

ssize_t PciCore::write(const void* buf, size_t count, uint64_t offset) {
  // rw() only reads from buf when writing.
  return rw(const_cast<void*>(buf), count, offset, true);  // NOLINT(*-const-cast)
}

ssize_t PciCore::rw(void* buf, size_t count, uint64_t offset, bool write) {
  if (count == 0) return 0;  // before any check, as vfio_pci_core_read/write
  const uint64_t index = region_index(offset);
  const uint64_t pos = offset & kRegionOffsetMask;
  switch (index) {
    case VFIO_PCI_CONFIG_REGION_INDEX:
      return write ? config_->write(buf, count, pos) : config_->read(buf, count, pos);
    case VFIO_PCI_ROM_REGION_INDEX:
      return write ? -EINVAL : rom_read(buf, count, pos);
    case VFIO_PCI_BAR0_REGION_INDEX:
    case VFIO_PCI_BAR1_REGION_INDEX:
    case VFIO_PCI_BAR2_REGION_INDEX:
    case VFIO_PCI_BAR3_REGION_INDEX:
    case VFIO_PCI_BAR4_REGION_INDEX:
    case VFIO_PCI_BAR5_REGION_INDEX:
      return bar_rw(static_cast<unsigned>(index), buf, count, pos, write);
    default:  // VGA (absent) and past the last region
      return -EINVAL;
  }
}

bool PciCore::memory_enabled() const {
  return config_->memory_enabled() && config_->power_state() < 3;
}

ssize_t PciCore::bar_rw(unsigned bar, void* buf, size_t count, uint64_t pos, bool write) {
  BarRegion* b = bars_[bar].get();
  if (b == nullptr || pos >= b->size()) return -EINVAL;
  MemoryLock::Shared lk(memory_lock_);  // a reset waits for accesses in flight
  // Memory BARs need Memory decode (and D0); the kernel does not check I/O decode.
  if (b->is_memory() && !memory_enabled()) return -EIO;
  return b->rw(*model_, msix_.get(), buf, count, pos, write);
}

ssize_t PciCore::rom_read(void* buf, size_t count, uint64_t pos) const {
  const uint64_t size = layout_.rom_size;
  if (size == 0 || pos >= size) return -EINVAL;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(count, size - pos));
  std::memset(buf, 0xff, n);  // no image: the kernel's fill for ROM space past the image
  return static_cast<ssize_t>(n);
}

void* PciCore::mmap(size_t length, int prot, int flags, uint64_t offset) {
  // vfio_pci_core_mmap's order of checks.
  const uint64_t index = region_index(offset);
  if (index >= VFIO_PCI_NUM_REGIONS) return mmap_error(EINVAL);
  if ((flags & MAP_SHARED) == 0) return mmap_error(EINVAL);  // private mappings of a device
  if (index >= VFIO_PCI_ROM_REGION_INDEX) return mmap_error(EINVAL);
  const BarRegion* b = bars_[index].get();
  if (b == nullptr) return mmap_error(EINVAL);
  return b->mmap(length, prot, offset & kRegionOffsetMask);
}

// ---------------------------------------------------------------------------- other ops

void PciCore::request(unsigned count) {
  if (irq_->request()) {
    if (count % 10 == 0) {
      log_info("pci", "{}: relaying device request to user (#{})", layout_.name, count);
    }
  } else if (count == 0) {
    log_warn("pci", "{}: no device request channel registered, blocked until released by user",
             layout_.name);
  }
}

void PciCore::dma_unmap(uint64_t iova, uint64_t length) {
  model_->dma_unmap(iova, length);
}

vfio::RegionFile PciCore::region_file(uint32_t index) const {
  if (index > VFIO_PCI_BAR5_REGION_INDEX) return {};
  const BarRegion* b = bars_[index].get();
  if (b == nullptr || b->memfd() < 0 || b->mmap_areas().empty()) return {};
  return {b->memfd(), 0};
}

std::vector<vfio::Doorbell> PciCore::doorbells() const {
  std::vector<vfio::Doorbell> out;
  for (const vfio::Doorbell& d : model_->doorbells()) {
    const BarRegion* b = d.region <= VFIO_PCI_BAR5_REGION_INDEX ? bars_[d.region].get() : nullptr;
    const bool size_ok = d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8;
    if (b == nullptr || b->spec().memory_backed || !size_ok || d.offset >= b->size() ||
        b->size() - d.offset < d.size) {
      log_warn("pci", "{}: doorbell at BAR{} {:#x} (size {}) is not inside an MMIO BAR: ignored",
               layout_.name, d.region, d.offset, d.size);
      continue;
    }
    out.push_back(d);
  }
  return out;
}

// ------------------------------------------------------------------------------ DeviceBus

int PciCore::dma_read(uint64_t iova, void* dst, size_t len) {
  return dma(false, iova, dst, len);
}

int PciCore::dma_write(uint64_t iova, const void* src, size_t len) {
  return dma(true, iova, const_cast<void*>(src), len);  // NOLINT(*-const-cast): only read
}

int PciCore::dma_fault(bool write, uint64_t iova, size_t len, const char* why) {
  // Like an IOMMU fault report (DMAR: [DMA Read] ... fault addr ...): one line per fault.
  dma_faults_.fetch_add(1, std::memory_order_relaxed);
  log_warn("pci", "{}: DMA fault: {} of {:#x} bytes at IOVA {:#x} refused: {}", layout_.name,
           write ? "write" : "read", len, iova, why);
  return -EFAULT;
}

int PciCore::dma(bool write, uint64_t iova, void* buf, size_t len) {
  if (len == 0 || iova + (len - 1) < iova) return -EINVAL;
  std::shared_ptr<iommu::Access> access;
  bool translated = true;
  {
    std::lock_guard lk(dma_mu_);
    if (!dma_open_) return -EIO;
    access = dma_.access;
    translated = dma_.translated;
  }
  if (!config_->bus_master()) return -EIO;
  if (!translated) return dma_untranslated(write, iova, buf, len);
  if (!access) return dma_fault(write, iova, len, "no IOMMU domain");
  auto r = write ? access->write(iova, buf, len) : access->read(iova, buf, len);
  if (r) return 0;
  switch (r.error()) {
    case ENOENT:
      return dma_fault(write, iova, len, "not mapped");
    case EPERM:
      return dma_fault(write, iova, len,
                       write ? "mapping is not writable" : "mapping is not readable");
    case EINVAL:  // the device is attached to no IOAS (the cdev path between detach and attach)
      return dma_fault(write, iova, len, "device blocked (no IO address space attached)");
    case EOVERFLOW:
      return -EINVAL;
    default:
      return dma_fault(write, iova, len, "translation failed");
  }
}

int PciCore::dma_untranslated(bool write, uint64_t addr, void* buf, size_t len) {
  // No-IOMMU: bus addresses are this process's addresses. Copy through the kernel so a bad
  // address is a fault report, not a crash.
  iovec local{buf, len};
  iovec remote{reinterpret_cast<void*>(addr), len};  // NOLINT(performance-no-int-to-ptr)
  const ssize_t n = write ? ::process_vm_writev(::getpid(), &local, 1, &remote, 1, 0)
                          : ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(len)) return 0;
  if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
    // process_vm_* filtered (seccomp): /proc/self/mem answers the same question.
    const int fd = ::open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      const ssize_t m = write ? ::pwrite(fd, buf, len, static_cast<off_t>(addr))
                              : ::pread(fd, buf, len, static_cast<off_t>(addr));
      ::close(fd);
      if (m == static_cast<ssize_t>(len)) return 0;
    }
  }
  return dma_fault(write, addr, len, "no-IOMMU address not accessible");
}

uint64_t PciCore::dma_faults() const {
  return dma_faults_.load(std::memory_order_relaxed);
}

bool PciCore::bus_master() const {
  return config_->bus_master();
}

bool PciCore::msi_enabled() const {
  return irq_->msi_enabled();
}

bool PciCore::msix_enabled() const {
  return irq_->msix_enabled();
}

void PciCore::signal_msi(unsigned vector) {
  irq_->signal_msi(vector);
}

void PciCore::set_intx(bool asserted) {
  irq_->set_intx(asserted);
}

std::byte* PciCore::bar_memory(unsigned bar) {
  return bar < bars_.size() && bars_[bar] ? bars_[bar]->memory() : nullptr;
}

}  // namespace uvfio::pci
