#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace arrowport::server {

/// \brief Counts the connections each client address holds open on a listener whose
/// server offers no hook at close (gRPC's), and refuses those past `max_per_address`.
///
/// Each admitted socket is remembered by its descriptor and its socket cookie (a 64-bit
/// id Linux never gives two sockets); it counts while its descriptor still holds that
/// socket, which is checked whenever its address connects again (and for all addresses
/// once the table has doubled), so a close need not be seen: a descriptor closed, or
/// reused by a file or another socket, stops counting. Thread-safe.
class PeerConnections {
 public:
  explicit PeerConnections(size_t max_per_address) : max_(max_per_address) {}

  /// True when `fd`, a connection just accepted from `address`, may stay (it now counts);
  /// false when that address holds max_per_address open connections already. A socket
  /// without a cookie (a kernel before 4.12) or an address ("": not IP) is let in
  /// uncounted.
  bool Admit(int fd, const std::string& address);

  size_t max_per_address() const { return max_; }
  /// Addresses with a connection remembered (for tests).
  size_t addresses() const;

 private:
  struct Held {
    int fd;
    uint64_t cookie;
  };
  void Sweep();  // with mutex_ held

  const size_t max_;
  mutable std::mutex mutex_;  // guards everything below
  std::unordered_map<std::string, std::vector<Held>> held_;
  size_t sweep_at_ = 1024;
};

/// The socket cookie of `fd`, 0 when it is not a socket (or the kernel has none).
uint64_t SocketCookie(int fd);

}  // namespace arrowport::server
