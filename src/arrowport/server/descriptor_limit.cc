#include "arrowport/server/descriptor_limit.h"

#include <dlfcn.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <vector>

#include "arrowport/common/peer_ip.h"
#include "arrowport/server/peer_connections.h"

namespace arrowport::server {

namespace {
// Read by every accept4 in the process (gRPC's threads included): the process-wide state
// this guard is, set once at start.
std::atomic<int64_t> g_ceiling{0};
std::atomic<int64_t> g_refused{0};

// The per-address caps by listening port (AddressCap): also the accept hook's own
// state, since gRPC's accept loop cannot be given any.
struct PortCap {
  int port;
  std::shared_ptr<PeerConnections> connections;
  std::shared_ptr<std::atomic<int64_t>> refused;
};
std::mutex g_caps_mutex;         // guards g_caps
std::vector<PortCap> g_caps;     // few: one per capped listener
std::atomic<int> g_capped{0};    // g_caps.size(), read without the lock

int LocalPort(int listener) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return -1;
  }
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return -1;
}

// False when `fd`, just accepted on `listener`, must be closed: its address holds its
// share of a capped listener already.
bool AdmitPerAddress(int listener, int fd) {
  if (g_capped.load(std::memory_order_relaxed) == 0) return true;
  const int port = LocalPort(listener);
  PortCap cap;
  {
    std::lock_guard<std::mutex> lock(g_caps_mutex);
    auto it = std::find_if(g_caps.begin(), g_caps.end(),
                           [port](const PortCap& c) { return c.port == port; });
    if (it == g_caps.end()) return true;
    cap = *it;
  }
  if (cap.connections->Admit(fd, PeerIpOf(fd))) return true;
  cap.refused->fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace

DescriptorLimit ReserveDescriptors(int64_t reserved) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  DescriptorLimit out;
  out.limit = limit.rlim_cur == RLIM_INFINITY ? int64_t{1} << 20
                                               : static_cast<int64_t>(limit.rlim_cur);
  // Even a tiny limit keeps a few connections possible.
  out.ceiling = std::max<int64_t>(out.limit - reserved, std::min<int64_t>(out.limit, 32));
  g_ceiling.store(out.ceiling);
  return out;
}

int64_t RefusedConnections() { return g_refused.load(); }

AddressCap::AddressCap(int port, int64_t max_per_address)
    : port_(port),
      connections_(std::make_shared<PeerConnections>(
          static_cast<size_t>(std::max<int64_t>(max_per_address, 0)))),
      refused_(std::make_shared<std::atomic<int64_t>>(0)) {
  std::lock_guard<std::mutex> lock(g_caps_mutex);
  std::erase_if(g_caps, [this](const PortCap& c) { return c.port == port_; });
  g_caps.push_back({port_, connections_, refused_});
  g_capped.store(static_cast<int>(g_caps.size()));
}

AddressCap::~AddressCap() {
  std::lock_guard<std::mutex> lock(g_caps_mutex);
  std::erase_if(g_caps,
                [this](const PortCap& c) { return c.connections == connections_; });
  g_capped.store(static_cast<int>(g_caps.size()));
}

int64_t AddressCap::refused() const { return refused_->load(); }

}  // namespace arrowport::server

// Every accepted connection in the process passes here (the executable's accept4 takes
// precedence over libc's for gRPC too): past the ceiling, or from an address over its
// share of a capped listener (AddressCap), it is closed at once, and the connections
// queued behind it are looked at the same way, until one may stay or the queue is
// empty; the caller is then told there is nothing to accept (EAGAIN). gRPC waits for
// the next connection after any refusal, so the queue must not be left holding
// connections it would never reach.
extern "C" int accept4(int listener, sockaddr* address, socklen_t* length, int flags) {
  using Accept4 = int (*)(int, sockaddr*, socklen_t*, int);
  static const auto real = reinterpret_cast<Accept4>(dlsym(RTLD_NEXT, "accept4"));
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  for (;;) {
    const int fd = real(listener, address, length, flags);
    if (fd < 0) return fd;
    const int64_t ceiling = arrowport::server::g_ceiling.load(std::memory_order_relaxed);
    if (ceiling <= 0 || fd < ceiling) {
      if (arrowport::server::AdmitPerAddress(listener, fd)) return fd;
    } else {
      arrowport::server::g_refused.fetch_add(1, std::memory_order_relaxed);
    }
    ::close(fd);
    pollfd queued{listener, POLLIN, 0};
    if (::poll(&queued, 1, 0) <= 0 || (queued.revents & POLLIN) == 0) {
      errno = EAGAIN;
      return -1;
    }
  }
}
