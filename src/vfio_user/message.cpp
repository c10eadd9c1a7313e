#include "vfio_user/message.h"

namespace uvfio::vfio_user {

Message make_command(uint16_t msg_id, Command cmd, uint32_t extra_flags) {
  Message m;
  m.hdr.msg_id = msg_id;
  m.hdr.command = static_cast<uint16_t>(cmd);
  m.hdr.flags = kTypeCommand | extra_flags;
  return m;
}

Message make_reply(const Header& request) {
  Message m;
  m.hdr.msg_id = request.msg_id;
  m.hdr.command = request.command;
  m.hdr.flags = kTypeReply;
  return m;
}

Message make_error_reply(const Header& request, int err) {
  Message m = make_reply(request);
  m.hdr.flags |= kFlagError;
  m.hdr.error_no = static_cast<uint32_t>(err);
  return m;
}

const char* command_name(uint16_t command) {
  switch (static_cast<Command>(command)) {
    case Command::kVersion:
      return "VERSION";
    case Command::kDmaMap:
      return "DMA_MAP";
    case Command::kDmaUnmap:
      return "DMA_UNMAP";
    case Command::kDeviceGetInfo:
      return "DEVICE_GET_INFO";
    case Command::kDeviceGetRegionInfo:
      return "DEVICE_GET_REGION_INFO";
    case Command::kDeviceGetRegionIoFds:
      return "DEVICE_GET_REGION_IO_FDS";
    case Command::kDeviceGetIrqInfo:
      return "DEVICE_GET_IRQ_INFO";
    case Command::kDeviceSetIrqs:
      return "DEVICE_SET_IRQS";
    case Command::kRegionRead:
      return "REGION_READ";
    case Command::kRegionWrite:
      return "REGION_WRITE";
    case Command::kDmaRead:
      return "DMA_READ";
    case Command::kDmaWrite:
      return "DMA_WRITE";
    case Command::kDeviceReset:
      return "DEVICE_RESET";
    case Command::kDirtyPages:
      return "DIRTY_PAGES";
    case Command::kRegionWriteMulti:
      return "REGION_WRITE_MULTI";
    case Command::kDeviceFeature:
      return "DEVICE_FEATURE";
    case Command::kMigDataRead:
      return "MIG_DATA_READ";
    case Command::kMigDataWrite:
      return "MIG_DATA_WRITE";
  }
  return "unknown command";
}

}  // namespace uvfio::vfio_user
