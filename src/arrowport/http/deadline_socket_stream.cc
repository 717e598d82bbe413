#include "arrowport/http/deadline_socket_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "arrowport/common/call_cancellation.h"
#include "arrowport/http/plain_transport.h"

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

DeadlineSocketStream::DeadlineSocketStream(int fd, ConnectionTimeouts timeouts,
                                           std::unique_ptr<Transport> transport)
    : fd_(fd),
      timeouts_(timeouts),
      transport_(transport ? std::move(transport) : std::make_unique<PlainTransport>(fd)),
      buffer_(kBufferBytes) {}

DeadlineSocketStream::~DeadlineSocketStream() {
  if (!cut_) {
    transport_->Close();
    return;
  }
  // Closed with a reset: the owner of the socket sees the setting and does not shut it
  // down first.
  const linger reset{1, 0};
  (void)::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
}

DeadlineSocketStream* DeadlineSocketStream::Current() { return current_stream; }

DeadlineSocketStream::CurrentScope::CurrentScope(DeadlineSocketStream* stream)
    : previous_(current_stream) {
  current_stream = stream;
}

DeadlineSocketStream::CurrentScope::~CurrentScope() { current_stream = previous_; }

bool DeadlineSocketStream::WaitForRequest() {
  phase_ = Phase::kIdle;
  remaining_reads_ = -1;
  transport_->Idle();
  if (is_readable()) return true;  // a pipelined request is here already
  if (!PollSocket(fd_, POLLIN, Clock::now() + timeouts_.keep_alive)) return false;
  char probe;
  const ssize_t n = ::recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0;
}

void DeadlineSocketStream::BeginHeaders() {
  phase_ = Phase::kHeaders;
  request_start_ = Clock::now();
  header_deadline_ = request_start_ + timeouts_.header;
}

void DeadlineSocketStream::BeginBody() {
  phase_ = Phase::kBody;
  body_timed_out_ = false;
  body_bytes_.store(0, std::memory_order_relaxed);
}

void DeadlineSocketStream::LimitRemainingReads(int64_t bytes) {
  const int64_t buffered = static_cast<int64_t>(buffer_end_ - buffer_begin_);
  remaining_reads_ = std::max<int64_t>(bytes, buffered);
}

DeadlineSocketStream::Clock::time_point DeadlineSocketStream::ReadDeadline() const {
  if (phase_ == Phase::kBody) return Clock::now() + timeouts_.read;
  if (phase_ == Phase::kHeaders) return header_deadline_;
  return Clock::now() + timeouts_.keep_alive;
}

bool DeadlineSocketStream::is_readable() const {
  return buffer_begin_ < buffer_end_ || transport_->Pending() > 0;
}

bool DeadlineSocketStream::wait_readable() const {
  return is_readable() || PollSocket(fd_, POLLIN, ReadDeadline());
}

void DeadlineSocketStream::ShutdownIfWaitingToWrite() const {
  if (waiting_to_write_.load()) ::shutdown(fd_, SHUT_RDWR);
}

bool DeadlineSocketStream::PollToWrite(short events, Clock::time_point deadline) const {
  waiting_to_write_.store(true);
  const bool ready = PollSocket(fd_, events, deadline);
  waiting_to_write_.store(false);
  return ready;
}

bool DeadlineSocketStream::wait_writable() const {
  const auto deadline = Clock::now() + timeouts_.write;
  if (PollToWrite(POLLOUT, deadline)) return true;
  // httplib asks before each write of a body: a client that took nothing meanwhile.
  write_stalled_ = Clock::now() >= deadline;
  return false;
}

bool DeadlineSocketStream::is_peer_alive() const {
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return true;
  if (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) return false;
  return true;
}

bool DeadlineSocketStream::PollForBody(short events, Clock::time_point deadline) const {
  if (body_reads_end_with_ == nullptr || phase_ != Phase::kBody) {
    return PollSocket(fd_, events, deadline);
  }
  // In slices, the call asked between them: a wake-up per slice only while a body waits.
  constexpr auto kSlice = std::chrono::milliseconds(200);
  for (;;) {
    if (body_reads_end_with_->cancelled()) return false;
    const auto slice_end = std::min(deadline, Clock::now() + kSlice);
    if (PollSocket(fd_, events, slice_end)) return true;
    // poll() failed (not a slice that passed): fails the read, as it did unsliced.
    if (Clock::now() < slice_end || slice_end == deadline) return false;
  }
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
      const Transport::Io io = transport_->Read(buffer_.data(), buffer_.size());
      if (io.bytes > 0) {
        buffer_begin_ = 0;
        buffer_end_ = static_cast<size_t>(io.bytes);
        break;
      }
      if (io.bytes == 0) {
        error_ = httplib::Error::ConnectionClosed;
        return 0;
      }
      if (io.wait == 0) {
        error_ = httplib::Error::Read;
        return -1;
      }
      if (!PollForBody(io.wait, deadline)) {
        if (body_reads_end_with_ != nullptr && body_reads_end_with_->cancelled()) {
          // The rest of the body is never read, not even drained to its declared length
          // after the answer (a trickle held the connection as long as it went on).
          error_ = httplib::Error::Read;
          remaining_reads_ = 0;
          close_after_response_ = true;
          return -1;
        }
        error_ = httplib::Error::Timeout;
        body_timed_out_ = phase_ == Phase::kBody && Clock::now() >= deadline;
        return -1;
      }
    }
  }
  const size_t take = std::min(size, buffer_end_ - buffer_begin_);
  std::memcpy(ptr, buffer_.data() + buffer_begin_, take);
  buffer_begin_ += take;
  if (remaining_reads_ > 0) remaining_reads_ -= static_cast<int64_t>(take);
  if (phase_ == Phase::kBody) body_bytes_.fetch_add(static_cast<int64_t>(take), std::memory_order_relaxed);
  return static_cast<ssize_t>(take);
}

ssize_t DeadlineSocketStream::write(const char* ptr, size_t size) {
  if (size == 0) return 0;
  // A TLS write must be retried with the same bytes, so the waits happen here, each at
  // most `write` for room: a client that keeps taking bytes is never cut off, however
  // long the whole write takes.
  auto wait = [&](const Transport::Io& io) {
    const auto deadline = Clock::now() + timeouts_.write;
    if (io.wait != 0 && PollToWrite(io.wait, deadline)) return true;
    write_stalled_ = io.wait != 0 && Clock::now() >= deadline;
    error_ = httplib::Error::Write;
    return false;
  };
  ssize_t taken = 0;
  for (;;) {
    const Transport::Io io = transport_->Write(ptr, size);
    if (io.bytes > 0) {
      taken = io.bytes;
      break;
    }
    if (!wait(io)) return -1;
  }
  // What the transport held back is sent before the write counts as done: nothing else
  // would push it out before the client's next request or the connection's end.
  for (;;) {
    const Transport::Io io = transport_->Flush();
    if (io.bytes >= 0) return taken;
    if (!wait(io)) return -1;
  }
}

std::string DeadlineSocketStream::PeerAddress(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  std::string ip;
  int port = 0;
  AddressOf(addr, ip, port);
  return ip + ":" + std::to_string(port);
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
