// BarRegion: one BAR as a vfio-pci region (vfio_pci_bar_rw / vfio_pci_core_do_io_rw and
// vfio_pci_core_mmap for emulated functions). A BAR is answered by the model's MMIO callbacks or,
// when memory-backed, by a memfd the driver may mmap; the MSI-X table and PBA inside it are
// carved out and go to the emulated MsixTable.
//
// Deliberate differences from the kernel, which owns the real MSI-X table on behalf of the host
// (its reads there return 0xff and writes are dropped; the PBA is the device's): uvfio's table is
// emulated, so the driver reads and writes the table and reads the PBA, as on bare hardware.
// Those pages are never mmap-able (they would bypass the emulation): mmap refuses them with
// EINVAL and the region lists the rest as sparse areas, as the kernel did before 4.16.
#pragma once

#include <linux/vfio.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "uvfio/base/mapping.h"
#include "uvfio/base/result.h"
#include "uvfio/base/unique_fd.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::pci {

class MsixTable;

/// A byte range of a BAR: [offset, offset + size).
struct BarWindow {
  uint64_t offset = 0;
  uint64_t size = 0;
  bool empty() const { return size == 0; }
  uint64_t end() const { return offset + size; }
  bool contains(uint64_t off) const { return off >= offset && off < end(); }
};

/// Immutable after create(); rw() and mmap() may run concurrently from any thread (the memory is
/// shared with the driver's mappings and the model, which order their own accesses). Owned by
/// PciCore.
class BarRegion {
 public:
  /// BAR `index` as `spec` describes it (a validated, non-empty BAR), with the MSI-X table and
  /// PBA windows it holds (empty when elsewhere). A memory-backed BAR gets its memfd here: the
  /// BAR's size rounded up to a page, zero-filled. Errno of memfd_create/ftruncate/mmap.
  static Result<std::unique_ptr<BarRegion>> create(unsigned index, const BarSpec& spec,
                                                   BarWindow msix_table, BarWindow msix_pba);

  unsigned index() const { return index_; }
  const BarSpec& spec() const { return spec_; }
  uint64_t size() const { return spec_.size; }
  /// A memory BAR (Command.Memory gates it); false for I/O BARs.
  bool is_memory() const { return spec_.type != BarType::kIo; }
  /// The BAR's shared memory (memory-backed BARs), else nullptr.
  std::byte* memory() const { return mem_.bytes(); }
  /// The memfd behind memory() (memory-backed BARs), else -1.
  int memfd() const { return memfd_.get(); }

  /// The MSI-X table or PBA lies in this BAR.
  bool has_msix() const { return !table_.empty() || !pba_.empty(); }
  /// Where mmap works: memory-backed BARs, page-rounded, minus the pages holding the MSI-X table
  /// and PBA; each area is clipped to the BAR's size. Empty when nothing may be mapped.
  std::vector<vfio_region_sparse_mmap_area> mmap_areas() const;

  /// Reads or writes `count` bytes at `pos` of the BAR (the caller checked Command.Memory):
  /// -EINVAL at or past the end, otherwise clipped to the end. MMIO is split into naturally
  /// aligned accesses of 8, 4, 2 or 1 bytes for the model; memory-backed parts are copied; the
  /// MSI-X table and PBA go to `msix`. Returns the bytes done.
  ssize_t rw(DeviceModel& model, MsixTable* msix, void* buf, size_t count, uint64_t pos,
             bool write);

  /// vfio_pci_core_mmap for this BAR (the caller checked the index and MAP_SHARED): `pos` and
  /// the page-rounded `length` must lie inside the page-rounded BAR, `pos` page-aligned, and
  /// outside the MSI-X pages; EINVAL otherwise or for a BAR that is not memory-backed. Returns a
  /// MAP_SHARED mapping of the memfd with `prot`, or -errno cast to a pointer.
  void* mmap(size_t length, int prot, uint64_t pos) const;

  static uint64_t page_size();

 private:
  BarRegion(unsigned index, const BarSpec& spec, BarWindow table, BarWindow pba)
      : index_(index), spec_(spec), table_(table), pba_(pba) {}
  // The page-rounded windows that mmap excludes, in offset order.
  std::vector<BarWindow> excluded_pages() const;

  const unsigned index_;
  const BarSpec spec_;
  const BarWindow table_;
  const BarWindow pba_;
  UniqueFd memfd_;
  Mapping mem_;
};

}  // namespace uvfio::pci
