#include "arrowport/server/peer_connections.h"

#include <sys/socket.h>

#include <algorithm>

namespace arrowport::server {

uint64_t SocketCookie(int fd) {
  uint64_t cookie = 0;
  socklen_t length = sizeof(cookie);
  if (fd < 0 || ::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &length) != 0) return 0;
  return cookie;
}

bool PeerConnections::Admit(int fd, const std::string& address) {
  const uint64_t cookie = SocketCookie(fd);
  if (cookie == 0 || max_ == 0 || address.empty()) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  auto& held = held_[address];
  std::erase_if(held, [](const Held& h) { return SocketCookie(h.fd) != h.cookie; });
  if (held.size() >= max_) return false;
  held.push_back({fd, cookie});
  if (held_.size() >= sweep_at_) Sweep();
  return true;
}

void PeerConnections::Sweep() {
  for (auto it = held_.begin(); it != held_.end();) {
    std::erase_if(it->second,
                  [](const Held& h) { return SocketCookie(h.fd) != h.cookie; });
    it = it->second.empty() ? held_.erase(it) : std::next(it);
  }
  sweep_at_ = std::max<size_t>(1024, 2 * held_.size());
}

size_t PeerConnections::addresses() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_.size();
}

}  // namespace arrowport::server
