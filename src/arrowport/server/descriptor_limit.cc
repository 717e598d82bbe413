#include "arrowport/server/descriptor_limit.h"

#include <dlfcn.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace arrowport::server {

namespace {
// Read by every accept4 in the process (gRPC's threads included): the process-wide state
// this guard is, set once at start.
std::atomic<int64_t> g_ceiling{0};
std::atomic<int64_t> g_refused{0};
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

}  // namespace arrowport::server

// Every accepted connection in the process passes here (the executable's accept4 takes
// precedence over libc's for gRPC too): past the ceiling it is closed at once, and so is
// every other connection queued behind it, until the queue is empty; the caller is then
// told there is nothing to accept (EAGAIN). gRPC waits for the next connection after any
// refusal, so the queue must not be left holding connections it would never reach.
extern "C" int accept4(int listener, sockaddr* address, socklen_t* length, int flags) {
  using Accept4 = int (*)(int, sockaddr*, socklen_t*, int);
  static const auto real = reinterpret_cast<Accept4>(dlsym(RTLD_NEXT, "accept4"));
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  for (;;) {
    const int fd = real(listener, address, length, flags);
    const int64_t ceiling = arrowport::server::g_ceiling.load(std::memory_order_relaxed);
    if (fd < 0 || ceiling <= 0 || fd < ceiling) return fd;
    ::close(fd);
    arrowport::server::g_refused.fetch_add(1, std::memory_order_relaxed);
    pollfd queued{listener, POLLIN, 0};
    if (::poll(&queued, 1, 0) <= 0 || (queued.revents & POLLIN) == 0) {
      errno = EAGAIN;
      return -1;
    }
  }
}
