// Session: VERSION, the negotiation every session starts with.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "base/log_format.h"
#include "vfio_user/session.h"

namespace uvfio::vfio_user {

int Session::on_version(const Message& m) {
  if (negotiated_) return -EINVAL;  // one negotiation per session
  if (!m.fds.empty()) return -EINVAL;
  std::string why;
  const std::string_view text(reinterpret_cast<const char*>(m.payload.data()), m.payload.size());
  auto v = parse_version_payload(text, &why);
  if (!v) {
    log_warn("vfio-user", "{}: VERSION refused: {}", config_.name, why);
    return -EINVAL;
  }
  if (v->major != kMajor) {
    log_warn("vfio-user", "{}: VERSION {}.{} refused: uvfio speaks major {}", config_.name,
             v->major, v->minor, kMajor);
    return -EINVAL;
  }
  auto caps = parse_capabilities(v->json, &why);
  if (!caps) {
    log_warn("vfio-user", "{}: VERSION capabilities refused: {}", config_.name, why);
    return -EINVAL;
  }
  client_ = *caps;

  // Our side: every limit stated (peers disagree on defaults for absent keys).
  Capabilities mine;
  mine.max_msg_fds = opts_.max_msg_fds;
  mine.max_data_xfer_size = opts_.max_data_xfer_size;
  mine.max_dma_maps = opts_.max_dma_maps;
  mine.pgsizes = opts_.pgsizes;
  mine.write_multiple = opts_.write_multiple;
  UniqueFd twin_peer;
  // A twin socket only for a client that asked and can receive its fd (libvfio-user's rule).
  if (opts_.twin_socket && client_.twin_socket && client_.max_msg_fds > 0) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -errno;
    conn_->set_twin(UniqueFd(sv[0]));
    twin_peer.reset(sv[1]);
    mine.twin_socket = true;
    mine.twin_fd_index = 0;
  }
  conn_->set_peer_max_data_xfer(client_.max_data_xfer_size);

  const std::string json = to_json(mine);
  const VersionHead head{kMajor, std::min(v->minor, kMinor)};
  const std::span<const uint8_t> pieces[2] = {
      {reinterpret_cast<const uint8_t*>(&head), sizeof head},
      {reinterpret_cast<const uint8_t*>(json.c_str()), json.size() + 1}};  // NUL included
  const int fd = twin_peer.get();
  negotiated_ = true;
  log_info("vfio-user", "{}: client speaks {}.{}; negotiated {}.{}{}", config_.name, v->major,
           v->minor, head.major, head.minor, mine.twin_socket ? " with a twin socket" : "");
  return reply(m, pieces, twin_peer ? std::span<const int>(&fd, 1) : std::span<const int>());
}

}  // namespace uvfio::vfio_user
