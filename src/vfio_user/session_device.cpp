// Session: the device ioctls over vfio-user — DEVICE_GET_INFO, GET_REGION_INFO, GET_IRQ_INFO,
// SET_IRQS, DEVICE_RESET and DEVICE_FEATURE. The device answers with its own VFIO semantics; the
// session translates the framing (argsz as the reply's limit, fds in SCM_RIGHTS).
#include <linux/vfio.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "base/log_format.h"
#include "vfio_user/session.h"

namespace uvfio::vfio_user {
namespace {

constexpr uint32_t kIrqSetData =
    VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD;
constexpr uint32_t kIrqSetAction =
    VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_ACTION_TRIGGER;

// struct vfio_irq_set without its flexible data array (which std::optional cannot hold).
struct IrqSetHead {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t start;
  uint32_t count;
};
static_assert(sizeof(IrqSetHead) == offsetof(vfio_irq_set, data));

// The request structs of these commands: exactly this long, argsz at least as long (it bounds
// the reply, and the reply is this struct).
template <class T>
std::optional<T> fixed_request(const Message& m) {
  auto v = m.get<T>();
  if (!v || m.payload.size() != sizeof(T)) return std::nullopt;
  uint32_t argsz;
  std::memcpy(&argsz, m.payload.data(), sizeof argsz);
  if (argsz < sizeof(T)) return std::nullopt;
  return v;
}

}  // namespace

int Session::on_get_info(const Message& m) {
  if (!fixed_request<DeviceInfo>(m)) return -EINVAL;
  DeviceInfo out{};
  out.argsz = sizeof out;
  out.flags = device_flags_;
  out.num_regions = static_cast<uint32_t>(regions_.size());
  out.num_irqs = num_irqs_;
  return reply(m, {reinterpret_cast<const uint8_t*>(&out), sizeof out});
}

int Session::on_get_region_info(const Message& m) {
  const auto req = fixed_request<vfio_region_info>(m);
  if (!req) return -EINVAL;
  if (req->index >= regions_.size()) return -EINVAL;
  const Region& r = regions_[req->index];
  if (r.err != 0) return -r.err;
  // A client that takes no fds cannot map: it sees the region without MMAP.
  const bool with_fd = r.file.fd >= 0 && client_.max_msg_fds > 0;
  const std::vector<uint8_t>& full = with_fd ? r.reply : r.reply_no_fd;
  if (req->argsz >= full.size()) {
    const int fd = r.file.fd;
    return reply(m, full, with_fd ? std::span<const int>(&fd, 1) : std::span<const int>());
  }
  // Too small for the chain: the fixed part with the argsz needed, no capability and no fd.
  // The fd goes only with its capabilities, as libvfio-user does: a first 32-byte query learns
  // the size and asks again.
  vfio_region_info out{};
  std::memcpy(&out, full.data(), sizeof out);
  out.cap_offset = 0;
  return reply(m, {reinterpret_cast<const uint8_t*>(&out), sizeof out});
}

int Session::on_get_irq_info(const Message& m) {
  const auto req = fixed_request<vfio_irq_info>(m);
  if (!req) return -EINVAL;
  vfio_irq_info info{};
  info.argsz = sizeof info;
  info.index = req->index;
  if (const long rc =
          device_->ioctl(VFIO_DEVICE_GET_IRQ_INFO, reinterpret_cast<unsigned long>(&info));
      rc < 0) {
    return static_cast<int>(rc);
  }
  info.argsz = sizeof info;
  return reply(m, {reinterpret_cast<const uint8_t*>(&info), sizeof info});
}

int Session::on_set_irqs(const Message& m) {
  const auto req = m.get<IrqSetHead>();
  if (!req) return -EINVAL;
  // argsz is the request's own size, data included (reference §1.6).
  if (req->argsz != m.payload.size()) return -EINVAL;
  const uint32_t data = req->flags & kIrqSetData;
  const uint32_t action = req->flags & kIrqSetAction;
  if ((req->flags & ~(kIrqSetData | kIrqSetAction)) != 0 || std::popcount(data) != 1 ||
      std::popcount(action) != 1) {
    return -EINVAL;
  }
  if (req->start + req->count < req->start) return -EINVAL;
  const size_t head = sizeof(IrqSetHead);
  // The device gets the kernel's layout: BOOL bytes, or one int32 fd per vector (-1 unassigns).
  std::vector<uint8_t>& k = out_;
  k.assign(head, 0);
  IrqSetHead set{};
  set.flags = req->flags;
  set.index = req->index;
  set.start = req->start;
  set.count = req->count;
  if (data == VFIO_IRQ_SET_DATA_BOOL) {
    if (m.payload.size() != head + req->count || !m.fds.empty()) return -EINVAL;
    k.insert(k.end(), m.payload.begin() + static_cast<ptrdiff_t>(head), m.payload.end());
  } else if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
    // One eventfd per vector, or none at all to unassign the whole range (QEMU's runs of -1).
    if (m.payload.size() != head) return -EINVAL;
    if (!m.fds.empty() && m.fds.size() != req->count) return -EINVAL;
    if (req->count > (1u << 16)) return -EINVAL;  // more vectors than any PCI function has
    for (uint32_t i = 0; i < req->count; ++i) {
      const int32_t fd = m.fds.empty() ? -1 : m.fds[i].get();
      const auto* p = reinterpret_cast<const uint8_t*>(&fd);
      k.insert(k.end(), p, p + sizeof fd);
    }
  } else if (m.payload.size() != head || !m.fds.empty()) {
    return -EINVAL;
  }
  set.argsz = static_cast<uint32_t>(k.size());
  std::memcpy(k.data(), &set, head);
  // The device takes its own reference on each eventfd; ours close with the message.
  const long rc = device_->ioctl(VFIO_DEVICE_SET_IRQS, reinterpret_cast<unsigned long>(k.data()));
  if (rc < 0) return static_cast<int>(rc);
  return reply(m, std::span<const uint8_t>());
}

int Session::on_reset(const Message& m) {
  if (!m.payload.empty()) return -EINVAL;
  log_info("vfio-user", "{}: device reset by the client", config_.name);
  if (const long rc = device_->ioctl(VFIO_DEVICE_RESET, 0); rc < 0) return static_cast<int>(rc);
  return reply(m, std::span<const uint8_t>());
}

int Session::on_feature(const Message& m) {
  const auto req = m.get<DeviceFeature>();
  if (!req) return -EINVAL;
  // vfio_ioctl_device_feature's checks, in its order.
  if (req->argsz < sizeof(DeviceFeature)) return -EINVAL;
  const uint32_t ops =
      VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE;
  if ((req->flags & ~(VFIO_DEVICE_FEATURE_MASK | ops)) != 0) return -EINVAL;
  if (!(req->flags & VFIO_DEVICE_FEATURE_PROBE) && (req->flags & VFIO_DEVICE_FEATURE_SET) &&
      (req->flags & VFIO_DEVICE_FEATURE_GET)) {
    return -EINVAL;
  }
  // The device answers with its data in a buffer of argsz (bounded by what one reply may carry).
  const uint64_t cap = std::max<uint64_t>(opts_.max_data_xfer_size, m.payload.size());
  const size_t size = static_cast<size_t>(std::min<uint64_t>(req->argsz, cap));
  std::vector<uint8_t>& buf = out_;
  buf.assign(std::max(size, m.payload.size()), 0);
  std::memcpy(buf.data(), m.payload.data(), m.payload.size());
  // The migration and DMA-logging features are not implemented (a later issue): the device core
  // answers them, and every other feature vfio-pci does not know, ENOTTY as 6.12 does.
  const long rc = device_->ioctl(VFIO_DEVICE_FEATURE, reinterpret_cast<unsigned long>(buf.data()));
  if (rc < 0) return static_cast<int>(rc);
  // SET and PROBE echo the request; GET returns the feature data argsz covers.
  const size_t len =
      (req->flags & VFIO_DEVICE_FEATURE_GET) && !(req->flags & VFIO_DEVICE_FEATURE_PROBE)
          ? buf.size()
          : m.payload.size();
  return reply(m, {buf.data(), len});
}

}  // namespace uvfio::vfio_user
