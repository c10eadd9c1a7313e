// Writes the vfio-user fuzzer's seed corpus: one file per scenario, each a chunk stream
// (fuzz_input.h) holding valid messages of every command, whole edu sessions (MMIO, interrupts,
// DMA through a shared memfd and by messages) and the malformed cases the server must refuse.
//
//   make_corpus DIR          writes (or overwrites) DIR/<name> for every seed
//   make_corpus --check DIR  exits 1 unless DIR holds exactly these seeds, byte for byte
#include <linux/vfio.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "uvfio/vfio_user/protocol.h"

namespace {

using uvfio::fuzz::append_fuzz_chunk;
using uvfio::fuzz::kCtlClose;
using uvfio::fuzz::kCtlFdMemfd;
using uvfio::fuzz::kCtlRawSize;
using uvfio::fuzz::kCtlSettle;
using uvfio::fuzz::kCtlSplit;
namespace vu = uvfio::vfio_user;
using Bytes = std::vector<uint8_t>;

// edu facts the seeds use (reference/edu-device.md).
constexpr uint32_t kBar0 = VFIO_PCI_BAR0_REGION_INDEX;
constexpr uint32_t kConfig = VFIO_PCI_CONFIG_REGION_INDEX;
constexpr uint64_t kEduFactorial = 0x08;
constexpr uint64_t kEduStatus = 0x20;
constexpr uint64_t kEduIrqRaise = 0x60;
constexpr uint64_t kEduIrqAck = 0x64;
constexpr uint64_t kEduDmaSrc = 0x80;
constexpr uint64_t kEduDmaDst = 0x88;
constexpr uint64_t kEduDmaCount = 0x90;
constexpr uint64_t kEduDmaCmd = 0x98;
constexpr uint64_t kEduDmaBuffer = 0x40000;
constexpr uint64_t kIova = 0x100000;  // below edu's 28-bit DMA mask

template <class T>
void put(Bytes& b, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof(T));
}

// One seed under construction: a chunk stream and a running message id.
class Seed {
 public:
  // A whole message: header (msg_size is patched by the harness unless kCtlRawSize) + payload.
  Seed& msg(vu::Command cmd, const Bytes& payload, uint8_t ctl = 0, uint32_t extra_flags = 0) {
    return raw_msg(static_cast<uint16_t>(cmd), payload, ctl, extra_flags);
  }
  Seed& raw_msg(uint16_t cmd, const Bytes& payload, uint8_t ctl = 0, uint32_t flags = 0,
                uint32_t msg_size = 0) {
    vu::Header h{};
    h.msg_id = id_++;
    h.command = cmd;
    h.msg_size = msg_size != 0 ? msg_size : static_cast<uint32_t>(sizeof h + payload.size());
    h.flags = flags;
    Bytes b;
    put(b, h);
    b.insert(b.end(), payload.begin(), payload.end());
    append_fuzz_chunk(out_, ctl, b);
    return *this;
  }
  Seed& bytes(const Bytes& b, uint8_t ctl) {
    append_fuzz_chunk(out_, ctl, b);
    return *this;
  }

  Seed& version(const std::string& json = R"({"capabilities":{"max_msg_fds":8}})",
                uint16_t minor = 0) {
    Bytes p;
    put(p, vu::VersionHead{vu::kMajor, minor});
    if (!json.empty()) {
      p.insert(p.end(), json.begin(), json.end());
      p.push_back(0);
    }
    return msg(vu::Command::kVersion, p);
  }
  Seed& dma_map(uint64_t iova, uint64_t size, bool with_fd, uint64_t offset = 0,
                uint32_t flags = vu::kDmaMapRead | vu::kDmaMapWrite) {
    Bytes p;
    put(p, vu::DmaMap{sizeof(vu::DmaMap), flags, offset, iova, size});
    return msg(vu::Command::kDmaMap, p, with_fd ? uint8_t{1 | kCtlFdMemfd} : uint8_t{0});
  }
  Seed& dma_unmap(uint64_t iova, uint64_t size, uint32_t flags = 0) {
    Bytes p;
    put(p, vu::DmaUnmap{sizeof(vu::DmaUnmap), flags, iova, size});
    return msg(vu::Command::kDmaUnmap, p);
  }
  Seed& device_info(uint32_t argsz = sizeof(vu::DeviceInfo)) {
    Bytes p;
    put(p, vu::DeviceInfo{argsz, 0, 0, 0});
    return msg(vu::Command::kDeviceGetInfo, p);
  }
  Seed& region_info(uint32_t index, uint32_t argsz = 256) {
    vfio_region_info ri{};
    ri.argsz = argsz;
    ri.index = index;
    Bytes p;
    put(p, ri);
    return msg(vu::Command::kDeviceGetRegionInfo, p);
  }
  Seed& io_fds(uint32_t index, uint32_t argsz = 16 + 8 * sizeof(vu::IoFdEntry)) {
    Bytes p;
    put(p, vu::RegionIoFdsRequest{argsz, 0, index, 0});
    return msg(vu::Command::kDeviceGetRegionIoFds, p);
  }
  Seed& irq_info(uint32_t index) {
    vfio_irq_info ii{};
    ii.argsz = sizeof ii;
    ii.index = index;
    Bytes p;
    put(p, ii);
    return msg(vu::Command::kDeviceGetIrqInfo, p);
  }
  // SET_IRQS; `fds` eventfds travel with it; `data` follows the struct (BOOL bytes).
  Seed& set_irqs(uint32_t flags, uint32_t index, uint32_t start, uint32_t count, uint8_t fds = 0,
                 const Bytes& data = {}) {
    vfio_irq_set s{};
    s.argsz = static_cast<uint32_t>(sizeof s + data.size());
    s.flags = flags;
    s.index = index;
    s.start = start;
    s.count = count;
    Bytes p;
    put(p, s);
    p.insert(p.end(), data.begin(), data.end());
    return msg(vu::Command::kDeviceSetIrqs, p, fds);
  }
  Seed& read(uint32_t region, uint64_t offset, uint32_t count) {
    Bytes p;
    put(p, vu::RegionAccess{offset, region, count});
    return msg(vu::Command::kRegionRead, p);
  }
  Seed& write(uint32_t region, uint64_t offset, uint32_t count, uint64_t value,
              uint32_t extra_flags = 0, uint8_t ctl = 0) {
    Bytes p;
    put(p, vu::RegionAccess{offset, region, count});
    for (uint32_t i = 0; i < count; ++i) p.push_back(static_cast<uint8_t>(value >> (8 * (i % 8))));
    return msg(vu::Command::kRegionWrite, p, ctl, extra_flags);
  }
  // Writes edu's DMA command register and lets the device run the transfer before going on.
  Seed& dma_command(uint64_t cmd) { return write(kBar0, kEduDmaCmd, 8, cmd, 0, kCtlSettle); }
  Seed& posted_write(uint32_t region, uint64_t offset, uint32_t count, uint64_t value) {
    return write(region, offset, count, value, vu::kFlagNoReply);
  }
  Seed& write_multi(const std::vector<vu::WriteMultiEntry>& entries, uint32_t extra_flags = 0) {
    Bytes p;
    put(p, vu::WriteMultiHead{entries.size()});
    for (const auto& e : entries) put(p, e);
    return msg(vu::Command::kRegionWriteMulti, p, 0, extra_flags);
  }
  Seed& reset() { return msg(vu::Command::kDeviceReset, {}); }
  Seed& feature(uint32_t flags, const Bytes& data = {}) {
    Bytes p;
    put(p, vu::DeviceFeature{static_cast<uint32_t>(sizeof(vu::DeviceFeature) + 64), flags});
    p.insert(p.end(), data.begin(), data.end());
    return msg(vu::Command::kDeviceFeature, p);
  }
  // Command register: memory space + bus master, as a driver does before MMIO and DMA.
  Seed& enable_device() { return write(kConfig, kCommandOffset, 2, 0x0006); }
  Seed& close() { return bytes({}, kCtlClose); }

  const Bytes& data() const { return out_; }

 private:
  static constexpr uint64_t kCommandOffset = 0x04;
  Bytes out_;
  uint16_t id_ = 1;
};

vu::WriteMultiEntry wm(uint32_t region, uint64_t offset, uint32_t count, uint64_t value) {
  vu::WriteMultiEntry e{};
  e.offset = offset;
  e.region = region;
  e.count = count;
  std::memcpy(e.data, &value, sizeof e.data);
  return e;
}

std::map<std::string, Bytes> make_seeds() {
  std::map<std::string, Bytes> s;
  const uint32_t kDataEventfdTrigger = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  const uint32_t kNoneTrigger = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;

  // --- one valid use of every command ---------------------------------------------------------
  s["cmd-01-version"] = Seed().version().data();
  s["cmd-01-version-no-json"] = Seed().version("").data();
  s["cmd-01-version-twin-socket"] =
      Seed()
          .version(R"({"capabilities":{"max_msg_fds":8,"twin_socket":{"supported":true}}})", 2)
          .device_info()
          .data();
  s["cmd-01-version-qemu"] =
      Seed()
          .version(R"({"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,)"
                   R"("pgsizes":4096,"max_dma_maps":65535,"write_multiple":true,)"
                   R"("migration":{"pgsize":4096,"max_bitmap_size":268435456}}})")
          .device_info()
          .data();
  s["cmd-02-dma-map-fd"] = Seed().version().dma_map(kIova, 0x4000, true).data();
  s["cmd-02-dma-map-no-fd"] = Seed().version().dma_map(kIova, 0x4000, false).data();
  s["cmd-03-dma-unmap"] =
      Seed().version().dma_map(kIova, 0x4000, true).dma_unmap(kIova, 0x4000).data();
  s["cmd-03-dma-unmap-all"] = Seed()
                                  .version()
                                  .dma_map(kIova, 0x2000, true)
                                  .dma_map(kIova + 0x10000, 0x2000, false)
                                  .dma_unmap(0, 0, vu::kDmaUnmapAll)
                                  .data();
  s["cmd-04-device-info"] = Seed().version().device_info().data();
  {
    Seed r;
    r.version();
    for (uint32_t i = 0; i < VFIO_PCI_NUM_REGIONS; ++i) r.region_info(i);
    r.region_info(kBar0, sizeof(vfio_region_info));  // too small for caps: argsz comes back
    s["cmd-05-region-info-all"] = r.data();
  }
  s["cmd-06-region-io-fds"] = Seed().version().io_fds(kBar0).io_fds(kBar0, 16).data();
  {
    Seed r;
    r.version();
    for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; ++i) r.irq_info(i);
    s["cmd-07-irq-info-all"] = r.data();
  }
  s["cmd-08-set-irqs-msi-eventfd"] =
      Seed()
          .version()
          .set_irqs(kDataEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, 1)
          .set_irqs(kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1)
          .set_irqs(kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0)
          .data();
  s["cmd-08-set-irqs-intx"] = Seed()
                                  .version()
                                  .set_irqs(kDataEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, 1)
                                  .set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
                                            VFIO_PCI_INTX_IRQ_INDEX, 0, 1)
                                  .set_irqs(VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK,
                                            VFIO_PCI_INTX_IRQ_INDEX, 0, 1, 0, {1})
                                  .set_irqs(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
                                            VFIO_PCI_INTX_IRQ_INDEX, 0, 1, 1)
                                  .set_irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0)
                                  .data();
  s["cmd-09-region-read"] =
      Seed().version().enable_device().read(kBar0, 0, 4).read(kConfig, 0, 256).data();
  s["cmd-10-region-write"] = Seed()
                                 .version()
                                 .enable_device()
                                 .write(kBar0, 0x04, 4, 0x12345678)
                                 .read(kBar0, 0x04, 4)
                                 .data();
  s["cmd-10-region-write-posted"] = Seed()
                                        .version()
                                        .enable_device()
                                        .posted_write(kBar0, 0x04, 4, 0xcafe)
                                        .posted_write(kBar0, 0x04, 4, 0xbeef)
                                        .read(kBar0, 0x04, 4)
                                        .data();
  s["cmd-13-device-reset"] = Seed().version().enable_device().reset().read(kBar0, 0, 4).data();
  s["cmd-15-write-multi"] =
      Seed()
          .version(R"({"capabilities":{"max_msg_fds":8,"write_multiple":true}})")
          .enable_device()
          .write_multi({wm(kBar0, 0x04, 4, 1), wm(kBar0, 0x04, 4, 2), wm(kBar0, 0x08, 4, 5)})
          .write_multi({wm(kBar0, 0x04, 4, 3)}, vu::kFlagNoReply)
          .read(kBar0, 0x04, 4)
          .data();
  s["cmd-16-device-feature"] = Seed()
                                   .version()
                                   .feature(VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | 1)
                                   .feature(VFIO_DEVICE_FEATURE_GET | 2)
                                   .feature(VFIO_DEVICE_FEATURE_SET | 6, Bytes(16, 0))
                                   .feature(VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET | 7)
                                   .data();
  {
    Bytes mig;
    put(mig, vu::MigData{sizeof(vu::MigData) + 64, 64});
    s["cmd-17-18-mig-data"] = Seed()
                                  .version()
                                  .msg(vu::Command::kMigDataRead, mig)
                                  .msg(vu::Command::kMigDataWrite, mig)
                                  .data();
  }

  // --- whole edu sessions ---------------------------------------------------------------------
  s["edu-factorial-msi"] = Seed()
                               .version()
                               .enable_device()
                               .set_irqs(kDataEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, 1)
                               .write(kBar0, kEduStatus, 4, 0x80)
                               .write(kBar0, kEduFactorial, 4, 5, 0, kCtlSettle)
                               .read(kBar0, kEduStatus, 4)
                               .read(kBar0, kEduFactorial, 4)
                               .write(kBar0, kEduIrqRaise, 4, 0x10)
                               .write(kBar0, kEduIrqAck, 4, 0xffffffff)
                               .data();
  // RAM -> device -> RAM through a shared memfd (the data path that never touches the socket).
  s["edu-dma-shared-fd"] = Seed()
                               .version()
                               .enable_device()
                               .dma_map(kIova, 0x4000, true)
                               .write(kBar0, kEduDmaSrc, 8, kIova)
                               .write(kBar0, kEduDmaDst, 8, kEduDmaBuffer)
                               .write(kBar0, kEduDmaCount, 8, 0x100)
                               .dma_command(0x1)
                               .read(kBar0, kEduDmaCmd, 8)
                               .write(kBar0, kEduDmaSrc, 8, kEduDmaBuffer)
                               .write(kBar0, kEduDmaDst, 8, kIova + 0x1000)
                               .dma_command(0x3)
                               .read(kBar0, kEduDmaCmd, 8)
                               .dma_unmap(kIova, 0x4000)
                               .data();
  // The same without an fd: the device's DMA travels as DMA_READ/DMA_WRITE to the client.
  s["edu-dma-by-messages"] = Seed()
                                 .version()
                                 .enable_device()
                                 .dma_map(kIova, 0x4000, false)
                                 .write(kBar0, kEduDmaSrc, 8, kIova)
                                 .write(kBar0, kEduDmaDst, 8, kEduDmaBuffer)
                                 .write(kBar0, kEduDmaCount, 8, 0x100)
                                 .dma_command(0x5)
                                 .read(kBar0, kEduDmaCmd, 8)
                                 .write(kBar0, kEduDmaSrc, 8, kEduDmaBuffer)
                                 .write(kBar0, kEduDmaDst, 8, kIova)
                                 .dma_command(0x3)
                                 .read(kBar0, kEduDmaCmd, 8)
                                 .data();
  s["edu-dma-by-messages-twin"] =
      Seed()
          .version(R"({"capabilities":{"max_msg_fds":8,"twin_socket":{"supported":true}}})", 2)
          .enable_device()
          .dma_map(kIova, 0x4000, false)
          .write(kBar0, kEduDmaSrc, 8, kIova)
          .write(kBar0, kEduDmaDst, 8, kEduDmaBuffer)
          .write(kBar0, kEduDmaCount, 8, 0x800)
          .dma_command(0x1)
          .read(kBar0, kEduDmaCmd, 8)
          .data();
  // Unmap while the device may still be using the window; disconnect during DMA.
  s["edu-dma-unmap-racing"] = Seed()
                                  .version()
                                  .enable_device()
                                  .dma_map(kIova, 0x4000, true)
                                  .write(kBar0, kEduDmaSrc, 8, kIova)
                                  .write(kBar0, kEduDmaDst, 8, kEduDmaBuffer)
                                  .write(kBar0, kEduDmaCount, 8, 0xfff)
                                  .write(kBar0, kEduDmaCmd, 8, 0x1)
                                  .dma_unmap(kIova, 0x4000)
                                  .data();
  s["edu-dma-disconnect"] = Seed()
                                .version()
                                .enable_device()
                                .dma_map(kIova, 0x4000, false)
                                .write(kBar0, kEduDmaSrc, 8, kIova)
                                .write(kBar0, kEduDmaDst, 8, kEduDmaBuffer)
                                .write(kBar0, kEduDmaCount, 8, 0xfff)
                                .write(kBar0, kEduDmaCmd, 8, 0x1)
                                .close()
                                .data();

  // --- malformed input (each must get its errno, the server carrying on) ------------------------
  s["bad-first-not-version"] = Seed().device_info().version().device_info().data();
  s["bad-version-major"] =
      Seed().raw_msg(1, {0x01, 0x00, 0x00, 0x00}).version().device_info().data();
  s["bad-version-json"] = Seed().version(R"({"capabilities":{"max_msg_fds":"8"}})").data();
  s["bad-version-no-nul"] = Seed().raw_msg(1, {0, 0, 0, 0, '{', '}'}).version().data();
  s["bad-truncated-header"] = Seed().version().bytes({0x01, 0x00, 0x04, 0x00, 0x10}, 0).data();
  s["bad-msg-size-below-header"] =
      Seed().version().raw_msg(4, Bytes(16, 0), kCtlRawSize, 0, 8).device_info().data();
  s["bad-msg-size-huge"] =
      Seed().version().raw_msg(4, Bytes(16, 0), kCtlRawSize, 0, 0x7fffffff).data();
  s["bad-body-short"] = Seed().version().raw_msg(9, Bytes(8, 0)).device_info().data();
  s["bad-body-long"] = Seed().version().raw_msg(4, Bytes(40, 0)).device_info().data();
  s["bad-argsz"] = Seed()
                       .version()
                       .device_info(4)
                       .region_info(kBar0, 8)
                       .dma_map(kIova, 0x1000, true, 0, 3)
                       .device_info()
                       .data();
  s["bad-unknown-command"] =
      Seed().version().raw_msg(99, {}).raw_msg(14, Bytes(8, 0)).device_info().data();
  s["bad-reply-flagged"] =
      Seed().version().raw_msg(4, Bytes(16, 0), 0, vu::kTypeReply).device_info().data();
  s["bad-flags-reserved"] =
      Seed().version().raw_msg(4, Bytes(16, 0), 0, 0x40).raw_msg(4, Bytes(16, 0), 0, 7).data();
  {
    Seed r;
    r.version();
    Bytes p;
    put(p, vu::DeviceInfo{sizeof(vu::DeviceInfo), 0, 0, 0});
    r.msg(vu::Command::kDeviceGetInfo, p, 2);  // two eventfds on a command that takes none
    r.set_irqs(kDataEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, 0);   // de-assign (no fds)
    r.set_irqs(kDataEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, 3);  // too many fds
    r.set_irqs(kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, 1);          // fd with DATA_NONE
    r.device_info();
    s["bad-fds"] = r.data();
  }
  s["bad-count-beyond-max-xfer"] = Seed()
                                       .version()
                                       .enable_device()
                                       .read(kBar0, 0, (1u << 20) + 1)
                                       .read(kBar0, 0, 0)
                                       .device_info()
                                       .data();
  s["bad-region-offsets"] = Seed()
                                .version()
                                .enable_device()
                                .read(kBar0, 1u << 20, 4)
                                .read(kBar0, (1u << 20) - 2, 4)
                                .read(kBar0, UINT64_MAX - 1, 4)
                                .read(kConfig, 256, 4)
                                .read(VFIO_PCI_NUM_REGIONS, 0, 4)
                                .write(kBar0, UINT64_MAX, 4, 0)
                                .read(kBar0, 0, 4)
                                .data();
  s["bad-dma-overlap"] = Seed()
                             .version()
                             .dma_map(kIova, 0x4000, true)
                             .dma_map(kIova + 0x1000, 0x1000, true)
                             .dma_map(kIova - 0x1000, 0x2000, false)
                             .dma_map(kIova + 0x5000, 0x1000, true, 0x5000)  // past the memfd
                             .dma_map(kIova + 0x8000, 0x1001, true)          // not page-sized
                             .dma_map(UINT64_MAX - 0xfff, 0x2000, false)     // wraps
                             .dma_map(kIova + 0x9000, 0, false)
                             .device_info()
                             .data();
  // A window past the end of its memfd must be refused: a device access there would SIGBUS.
  s["bad-dma-map-past-fd-end"] = Seed()
                                     .version()
                                     .enable_device()
                                     .dma_map(kIova, 0x4000, true, 0x2000)
                                     .write(kBar0, kEduDmaSrc, 8, kIova + 0x3000)
                                     .write(kBar0, kEduDmaDst, 8, kEduDmaBuffer)
                                     .write(kBar0, kEduDmaCount, 8, 0x100)
                                     .dma_command(0x1)
                                     .read(kBar0, kEduDmaCmd, 8)
                                     .data();
  s["bad-dma-unmap-unknown"] = Seed()
                                   .version()
                                   .dma_map(kIova, 0x4000, true)
                                   .dma_unmap(kIova, 0x1000)
                                   .dma_unmap(kIova + 0x10000, 0x1000)
                                   .dma_unmap(kIova, 0x4000, vu::kDmaUnmapAll)
                                   .dma_unmap(kIova, 0x4000, 0x80)
                                   .dma_unmap(kIova, 0x4000)
                                   .data();
  s["bad-set-irqs"] =
      Seed()
          .version()
          .set_irqs(kDataEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 2, 2)
          .set_irqs(kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 1, 1)
          .set_irqs(kNoneTrigger, VFIO_PCI_NUM_IRQS, 0, 1)
          .set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
                    VFIO_PCI_INTX_IRQ_INDEX, 0, 1)
          .set_irqs(VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_INTX_IRQ_INDEX,
                    0, 1, 0, {1, 1, 1})
          .set_irqs(kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, UINT32_MAX, 2)
          .device_info()
          .data();
  s["bad-write-multi"] = Seed()
                             .version()
                             .write_multi({wm(kBar0, 0x04, 9, 1)})
                             .write_multi({wm(kBar0, 1u << 20, 4, 1)})
                             .raw_msg(15, {0xff, 0xff, 0, 0, 0, 0, 0, 0})
                             .device_info()
                             .data();
  {
    Seed r;
    r.version();
    Bytes whole;
    vu::Header h{};
    h.msg_id = 77;
    h.command = static_cast<uint16_t>(vu::Command::kDeviceGetInfo);
    h.msg_size = sizeof h + sizeof(vu::DeviceInfo);
    put(whole, h);
    put(whole, vu::DeviceInfo{sizeof(vu::DeviceInfo), 0, 0, 0});
    r.bytes(whole, kCtlSplit);
    s["edge-split-message"] = r.data();
    // A header promising a body that never comes, then the client leaves.
    Seed t;
    t.version();
    Bytes head(whole.begin(), whole.begin() + sizeof h);
    t.bytes(head, kCtlRawSize | kCtlClose);
    s["edge-disconnect-mid-request"] = t.data();
  }
  return s;
}

int write_all(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : make_seeds()) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "make_corpus: cannot write %s\n", (dir / name).c_str());
      return 1;
    }
  }
  return 0;
}

int check_all(const std::filesystem::path& dir) {
  const auto seeds = make_seeds();
  int bad = 0;
  std::set<std::string> seen;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    seen.insert(name);
    auto it = seeds.find(name);
    if (it == seeds.end()) {
      std::fprintf(stderr, "make_corpus: %s is not a generated seed\n", name.c_str());
      ++bad;
      continue;
    }
    std::ifstream in(e.path(), std::ios::binary);
    const Bytes got{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (got != it->second) {
      std::fprintf(stderr, "make_corpus: %s differs from the generator's\n", name.c_str());
      ++bad;
    }
  }
  for (const auto& [name, bytes] : seeds) {
    if (seen.count(name) == 0) {
      std::fprintf(stderr, "make_corpus: %s is missing\n", name.c_str());
      ++bad;
    }
  }
  if (bad != 0) {
    std::fprintf(stderr, "make_corpus: regenerate with: make_corpus %s\n", dir.c_str());
    return 1;
  }
  std::printf("make_corpus: %zu seeds current\n", seeds.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--check") == 0) return check_all(argv[2]);
  if (argc == 2 && argv[1][0] != '-') return write_all(argv[1]);
  std::fprintf(stderr, "usage: make_corpus DIR | make_corpus --check DIR\n");
  return 2;
}
