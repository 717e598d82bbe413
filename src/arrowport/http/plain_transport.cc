#include "arrowport/http/plain_transport.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace arrowport::http {

namespace {

bool WouldBlock() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

}  // namespace

Transport::Io PlainTransport::Read(char* data, size_t size) {
  const ssize_t n = ::recv(fd_, data, size, MSG_DONTWAIT);
  if (n >= 0) return {n, 0};
  return {-1, static_cast<short>(WouldBlock() ? POLLIN : 0)};
}

Transport::Io PlainTransport::Write(const char* data, size_t size) {
  const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0) return {n, 0};
  if (n == 0) return {-1, POLLOUT};
  return {-1, static_cast<short>(WouldBlock() ? POLLOUT : 0)};
}

}  // namespace arrowport::http
