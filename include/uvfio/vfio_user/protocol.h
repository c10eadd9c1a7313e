// The vfio-user wire format: message header, command numbers and the payload structures, as
// QEMU's docs/interop/vfio-user.rst and libvfio-user's include/vfio-user.h lay them out (see
// ../shared/reference/vfio-user-protocol.md for where they disagree). Every structure is
// little-endian, packed, native-struct, exactly as on the wire; sizes are checked below. Offsets in
// comments count from the end of the 16-byte header. The payloads that are VFIO uAPI structures
// (device, region and IRQ info, SET_IRQS) reuse <linux/vfio.h>'s layout.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uvfio::vfio_user {

/// The protocol version uvfio speaks. Servers reply min(client minor, kMinor); a client accepts a
/// reply with the same major and a minor <= its own (QEMU 10.x sends and accepts 0.0 only).
inline constexpr uint16_t kMajor = 0;
inline constexpr uint16_t kMinor = 2;

enum class Command : uint16_t {
  kVersion = 1,
  kDmaMap = 2,
  kDmaUnmap = 3,
  kDeviceGetInfo = 4,
  kDeviceGetRegionInfo = 5,
  kDeviceGetRegionIoFds = 6,
  kDeviceGetIrqInfo = 7,
  kDeviceSetIrqs = 8,
  kRegionRead = 9,
  kRegionWrite = 10,
  kDmaRead = 11,   // server -> client
  kDmaWrite = 12,  // server -> client
  kDeviceReset = 13,
  kDirtyPages = 14,  // removed with migration v2; the number stays reserved
  kRegionWriteMulti = 15,
  kDeviceFeature = 16,
  kMigDataRead = 17,
  kMigDataWrite = 18,
};

/// Human-readable command name ("REGION_READ"); "command N" for unknown numbers.
const char* command_name(uint16_t command);

// ---- header ------------------------------------------------------------------------------------

inline constexpr uint32_t kTypeMask = 0xf;
inline constexpr uint32_t kTypeCommand = 0;
inline constexpr uint32_t kTypeReply = 1;
inline constexpr uint32_t kFlagNoReply = 1u << 4;  // commands only: send no reply, even on error
inline constexpr uint32_t kFlagError = 1u << 5;    // replies only: error_no holds an errno
inline constexpr uint32_t kKnownFlags = kTypeMask | kFlagNoReply | kFlagError;

struct [[gnu::packed]] Header {
  uint16_t msg_id;
  uint16_t command;
  uint32_t msg_size;  // the whole message, header included
  uint32_t flags;
  uint32_t error_no;  // replies with kFlagError only
};
static_assert(sizeof(Header) == 16);

/// Largest default data transfer (REGION_/DMA_READ/WRITE count) when a peer states none.
inline constexpr uint64_t kDefaultMaxDataXfer = 1u << 20;
/// libvfio-user's ceiling for any one message: a 1 MiB transfer plus two 16-byte headers.
inline constexpr uint32_t kMaxMessageSize = (1u << 20) + 32;
/// Default max_msg_fds when a peer omits the key (the spec's 1; QEMU assumes 8).
inline constexpr uint32_t kDefaultMaxMsgFds = 1;
inline constexpr uint32_t kDefaultMaxDmaMaps = 65535;
inline constexpr uint64_t kDefaultPgsizes = 4096;

// ---- VERSION (1): {major, minor, NUL-terminated JSON} ------------------------------------------

struct [[gnu::packed]] VersionHead {
  uint16_t major;
  uint16_t minor;
  // followed by optional JSON text including its terminating NUL
};
static_assert(sizeof(VersionHead) == 4);

// ---- DMA_MAP (2) / DMA_UNMAP (3) ---------------------------------------------------------------

inline constexpr uint32_t kDmaMapRead = 1u << 0;
inline constexpr uint32_t kDmaMapWrite = 1u << 1;
/// Access modes (libvfio-user 2026, the draft spec; no capability announces them): mmap the fd,
/// or reach it with pread/pwrite. Either needs an fd; neither: mmap with an fd, messages without.
inline constexpr uint32_t kDmaMapAccessMmap = 1u << 2;
inline constexpr uint32_t kDmaMapAccessFileIo = 1u << 3;

struct [[gnu::packed]] DmaMap {
  uint32_t argsz;  // == sizeof(DmaMap): the request's own size
  uint32_t flags;
  uint64_t offset;  // in the passed fd (0 without one)
  uint64_t addr;    // IOVA
  uint64_t size;
};
static_assert(sizeof(DmaMap) == 32);

inline constexpr uint32_t kDmaUnmapGetDirtyBitmap = 1u << 0;
inline constexpr uint32_t kDmaUnmapAll = 1u << 1;

struct [[gnu::packed]] DmaUnmap {
  uint32_t argsz;  // largest reply payload accepted
  uint32_t flags;
  uint64_t addr;
  uint64_t size;
  // with kDmaUnmapGetDirtyBitmap: a DirtyBitmap follows, and in the reply its bitmap bytes
};
static_assert(sizeof(DmaUnmap) == 24);

struct [[gnu::packed]] DirtyBitmap {
  uint64_t pgsize;
  uint64_t size;  // bytes of bitmap
};
static_assert(sizeof(DirtyBitmap) == 16);

// ---- DEVICE_GET_INFO (4), GET_REGION_INFO (5), GET_IRQ_INFO (7), SET_IRQS (8) -----------------
// These are struct vfio_device_info (16 bytes; no cap_offset), vfio_region_info (32 + caps),
// vfio_irq_info (16) and vfio_irq_set (20 + BOOL data; eventfds travel as SCM_RIGHTS).

struct [[gnu::packed]] DeviceInfo {
  uint32_t argsz;
  uint32_t flags;  // VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI
  uint32_t num_regions;
  uint32_t num_irqs;
};
static_assert(sizeof(DeviceInfo) == 16);

// ---- DEVICE_GET_REGION_IO_FDS (6) --------------------------------------------------------------

struct [[gnu::packed]] RegionIoFdsRequest {
  uint32_t argsz;
  uint32_t flags;  // 0
  uint32_t index;
  uint32_t count;  // 0 in the request; number of sub-regions in the reply
  // reply: `count` IoFdEntry follow
};
static_assert(sizeof(RegionIoFdsRequest) == 16);

inline constexpr uint32_t kIoFdTypeIoeventfd = 0;
inline constexpr uint32_t kIoeventfdFlagDatamatch = 1u << 0;

/// One ioeventfd sub-region. uvfio sends the spec's 40-byte entry; a reader computes the stride
/// as (argsz - 16) / count, which also accepts libvfio-user's 48-byte shadow entries.
struct [[gnu::packed]] IoFdEntry {
  uint64_t offset;  // within the region
  uint64_t size;    // access size (0: any)
  uint32_t fd_index;
  uint32_t type;   // kIoFdTypeIoeventfd
  uint32_t flags;  // kIoeventfdFlagDatamatch
  uint32_t padding;
  uint64_t datamatch;
};
static_assert(sizeof(IoFdEntry) == 40);

// ---- REGION_READ (9) / REGION_WRITE (10) -------------------------------------------------------

struct [[gnu::packed]] RegionAccess {
  uint64_t offset;
  uint32_t region;
  uint32_t count;
  // data: WRITE requests and READ replies
};
static_assert(sizeof(RegionAccess) == 16);

// ---- DMA_READ (11) / DMA_WRITE (12), server -> client ------------------------------------------

struct [[gnu::packed]] DmaAccess {
  uint64_t addr;
  uint64_t count;  // 8 bytes as in libvfio-user and the draft; QEMU 10.x differs (reference §6.1)
  // data: DMA_WRITE requests and DMA_READ replies
};
static_assert(sizeof(DmaAccess) == 16);

// ---- REGION_WRITE_MULTI (15) -------------------------------------------------------------------

inline constexpr uint32_t kWriteMultiMaxData = 8;
inline constexpr uint64_t kWriteMultiMaxEntries = 200;  // QEMU's batch size; uvfio's limit too

struct [[gnu::packed]] WriteMultiEntry {
  uint64_t offset;
  uint32_t region;
  uint32_t count;  // <= 8
  uint8_t data[kWriteMultiMaxData];
};
static_assert(sizeof(WriteMultiEntry) == 24);

struct [[gnu::packed]] WriteMultiHead {
  uint64_t wr_cnt;
  // wr_cnt WriteMultiEntry follow; the reply is wr_cnt (writes completed)
};
static_assert(sizeof(WriteMultiHead) == 8);

// ---- DEVICE_FEATURE (16) -----------------------------------------------------------------------

struct [[gnu::packed]] DeviceFeature {
  uint32_t argsz;  // largest reply payload
  uint32_t flags;  // VFIO_DEVICE_FEATURE_MASK index | GET | SET | PROBE
  // feature data
};
static_assert(sizeof(DeviceFeature) == 8);

// ---- MIG_DATA_READ (17) / MIG_DATA_WRITE (18) --------------------------------------------------

struct [[gnu::packed]] MigData {
  uint32_t argsz;
  uint32_t size;
};
static_assert(sizeof(MigData) == 8);

}  // namespace uvfio::vfio_user
