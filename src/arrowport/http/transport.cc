#include "arrowport/http/transport.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace arrowport::http {

bool PollSocket(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    // Rounded up, and polled again if poll() came back early: false means the deadline
    // has passed (callers tell a timeout from an error by it).
    const auto now = std::chrono::steady_clock::now();
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30)));
    if (n > 0) return true;
    if (n == 0) {
      if (left <= 0 || std::chrono::steady_clock::now() >= deadline) return false;
      continue;
    }
    if (errno != EINTR) return false;
  }
}

}  // namespace arrowport::http
