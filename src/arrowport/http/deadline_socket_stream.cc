#include "arrowport/http/deadline_socket_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace arrowport::http {

namespace {

constexpr size_t kBufferBytes = 64 << 10;
thread_local DeadlineSocketStream* current_stream = nullptr;

void AddressOf(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    port = ntohs(in6->sin6_port);
  }
  ip = text;
}

}  // namespace

DeadlineSocketStream::DeadlineSocketStream(int fd, ConnectionTimeouts timeouts)
    : fd_(fd), timeouts_(timeouts), buffer_(kBufferBytes) {}

DeadlineSocketStream::~DeadlineSocketStream() = default;

DeadlineSocketStream* DeadlineSocketStream::Current() { return current_stream; }

DeadlineSocketStream::CurrentScope::CurrentScope(DeadlineSocketStream* stream)
    : previous_(current_stream) {
  current_stream = stream;
}

DeadlineSocketStream::CurrentScope::~CurrentScope() { current_stream = previous_; }

bool DeadlineSocketStream::PollUntil(short events, Clock::time_point deadline) const {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd_, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30)));
    if (n > 0) return true;  // ready, or an error the next recv/send reports
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool DeadlineSocketStream::WaitForRequest() {
  phase_ = Phase::kIdle;
  remaining_reads_ = -1;
  if (buffer_begin_ < buffer_end_) return true;  // a pipelined request is here already
  if (!PollUntil(POLLIN, Clock::now() + timeouts_.keep_alive)) return false;
  char probe;
  const ssize_t n = ::recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0;
}

void DeadlineSocketStream::BeginHeaders() {
  phase_ = Phase::kHeaders;
  request_start_ = Clock::now();
  header_deadline_ = request_start_ + timeouts_.header;
}

void DeadlineSocketStream::BeginBody() { phase_ = Phase::kBody; }

void DeadlineSocketStream::LimitRemainingReads(int64_t bytes) {
  const int64_t buffered = static_cast<int64_t>(buffer_end_ - buffer_begin_);
  remaining_reads_ = std::max<int64_t>(bytes, buffered);
}

DeadlineSocketStream::Clock::time_point DeadlineSocketStream::ReadDeadline() const {
  if (phase_ == Phase::kBody) return Clock::now() + timeouts_.read;
  if (phase_ == Phase::kHeaders) return header_deadline_;
  return Clock::now() + timeouts_.keep_alive;
}

bool DeadlineSocketStream::is_readable() const { return buffer_begin_ < buffer_end_; }

bool DeadlineSocketStream::wait_readable() const {
  return is_readable() || PollUntil(POLLIN, ReadDeadline());
}

bool DeadlineSocketStream::wait_writable() const {
  return PollUntil(POLLOUT, Clock::now() + timeouts_.write);
}

bool DeadlineSocketStream::is_peer_alive() const {
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return true;
  if (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) return false;
  return true;
}

ssize_t DeadlineSocketStream::read(char* ptr, size_t size) {
  if (remaining_reads_ == 0) {
    error_ = httplib::Error::Read;
    return -1;
  }
  if (remaining_reads_ > 0) size = std::min<size_t>(size, static_cast<size_t>(remaining_reads_));
  if (buffer_begin_ == buffer_end_) {
    const auto deadline = ReadDeadline();
    for (;;) {
      if (!PollUntil(POLLIN, deadline)) {
        error_ = httplib::Error::Timeout;
        return -1;
      }
      const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
      if (n > 0) {
        buffer_begin_ = 0;
        buffer_end_ = static_cast<size_t>(n);
        break;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      error_ = n == 0 ? httplib::Error::ConnectionClosed : httplib::Error::Read;
      return n;
    }
  }
  const size_t take = std::min(size, buffer_end_ - buffer_begin_);
  std::memcpy(ptr, buffer_.data() + buffer_begin_, take);
  buffer_begin_ += take;
  if (remaining_reads_ > 0) remaining_reads_ -= static_cast<int64_t>(take);
  return static_cast<ssize_t>(take);
}

ssize_t DeadlineSocketStream::write(const char* ptr, size_t size) {
  if (!wait_writable()) {
    error_ = httplib::Error::Write;
    return -1;
  }
  ssize_t n;
  do {
    n = ::send(fd_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;  // httplib retries
  return n;
}

void DeadlineSocketStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    AddressOf(addr, ip, port);
  }
}

void DeadlineSocketStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    AddressOf(addr, ip, port);
  }
}

time_t DeadlineSocketStream::duration() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - request_start_)
      .count();
}

}  // namespace arrowport::http
