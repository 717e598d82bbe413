#include "arrowport/http/http_server.h"

#include "arrowport/metrics/registry.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "arrow/util/uri.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/peer_ip.h"
#include "arrowport/http/http_errors.h"
#include "arrowport/http/tls_transport.h"

namespace arrowport::http {

namespace {

constexpr auto kIdleWorker = std::chrono::seconds(30);
constexpr auto kLinger = std::chrono::seconds(2);
constexpr size_t kMaxLingering = 4096;
// Workers beyond the connection cap: an admitted connection never waits for a thread.
constexpr size_t kSpareWorkers = 8;

std::string BusyResponse() {
  const std::string body =
      HttpError{503, "busy",
                "server busy: too many open HTTP connections (http.max_connections); "
                "retry later"}
          .ToJson();
  return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) +
         "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
}

std::string TooManyFromAddress(const std::string& address, size_t cap) {
  const std::string body =
      HttpError{429, "rate_limited",
                "too many open connections from " + address + ": at most " +
                    std::to_string(cap) +
                    " per address (limits.max_connections_per_address); close some or "
                    "retry later"}
          .ToJson();
  return "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) +
         "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
}

// Plain HTTP on the HTTPS port: say so in plain text instead of an empty reply.
std::string HttpsRequiredResponse() {
  const std::string body =
      HttpError{400, "https_required", "this port speaks HTTPS only: use https://"}.ToJson();
  return "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

void AnswerHttpsRequired(int fd) {
  static const std::string response = HttpsRequiredResponse();
  // The request's bytes are read first: closing with unread input would reset the
  // connection and could discard the answer before the client reads it.
  char sink[4096];
  for (int i = 0; i < 16 && ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; ++i) {
  }
  (void)::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

// A TLS ClientHello opens with a handshake record (content type 22): an https:// client on
// this plain port. Its bytes are read, so that the close that follows is an orderly one
// (closed with unread input, the socket would be reset under the client's feet).
bool TakeTlsHandshake(int fd) {
  unsigned char first = 0;
  if (::recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT) != 1 || first != 0x16) return false;
  char sink[4096];
  for (int i = 0; i < 16 && ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; ++i) {
  }
  return true;
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options)
    : options_(options),
      registry_(options.max_connections, options.max_connections_per_address),
      workers_(options.max_connections + kSpareWorkers, kIdleWorker) {}

HttpServer::~HttpServer() { Stop(std::chrono::system_clock::now()); }

arrow::Result<int> HttpServer::BindAndServe(const std::string& host, int port) {
  const int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return arrow::Status::IOError("cannot listen for HTTP on ",
                                  arrow::util::UriEncodeHost(host), ":", port,
                                  " (address in use or not available)");
  }
  // Linux takes a second listen() on a listening socket as a new backlog.
  if (::listen(svr_sock_, options_.listen_backlog) != 0) {
    return arrow::Status::IOError("cannot raise the HTTP listen backlog: ", std::strerror(errno));
  }
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return arrow::Status::IOError("cannot create a pipe: ", std::strerror(errno));
  }
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return bound;
}

void HttpServer::AcceptLoop() {
  const int listener = svr_sock_;
  std::vector<pollfd> fds;
  for (;;) {
    fds.assign({{listener, POLLIN, 0}, {wake_[0], POLLIN, 0}});
    int timeout_ms = -1;
    const auto now = std::chrono::steady_clock::now();
    for (auto& [fd, until] : lingering_) {
      fds.push_back({fd, POLLIN, 0});
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
      if (timeout_ms < 0 || left < timeout_ms) timeout_ms = static_cast<int>(std::max<int64_t>(left, 0));
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno != EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;  // out of memory for a moment: never stop accepting for it
    }
    if (fds[1].revents != 0) break;  // Stop()
    // Lingering refusals: discard what the client still sends, close at its end or ours.
    std::vector<std::pair<int, std::chrono::steady_clock::time_point>> still;
    for (size_t i = 0; i < lingering_.size(); ++i) {
      auto [fd, until] = lingering_[i];
      bool done = std::chrono::steady_clock::now() >= until;
      if (!done && fds[i + 2].revents != 0) {
        char sink[4096];
        const ssize_t n = ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
        done = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
      }
      if (done) {
        ::close(fd);
      } else {
        still.emplace_back(fd, until);
      }
    }
    lingering_ = std::move(still);
    if ((fds[0].revents & POLLIN) == 0) continue;
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &peer_length,
                             SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      continue;  // EAGAIN, ECONNABORTED, EINTR, ...: the next connection will do
    }
    int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    const std::string address = PeerIp(reinterpret_cast<sockaddr*>(&peer), peer_length);
    ConnectionRegistry::Refusal refusal = ConnectionRegistry::Refusal::kNone;
    const uint64_t id = registry_.Admit(fd, address, &refusal);
    if (id == 0) {
      static const std::string busy = BusyResponse();
      if (refusal == ConnectionRegistry::Refusal::kAddress) {
        Refuse(fd, TooManyFromAddress(address, options_.max_connections_per_address));
      } else {
        if (options_.refused != nullptr) options_.refused->Add();
        Refuse(fd, busy);
      }
      continue;
    }
    if (!workers_.Submit([this, fd, id] { ServeConnection(fd, id); })) {
      registry_.Remove(id);
      ::close(fd);
    }
  }
  for (auto& [fd, until] : lingering_) ::close(fd);
  lingering_.clear();
}

void HttpServer::Refuse(int fd, const std::string& response) {
  // A fresh socket's send buffer always takes a few hundred bytes: this never blocks.
  // A TLS client cannot read plain text before its handshake: it only sees the close.
  if (options_.tls == nullptr) {
    (void)::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::shutdown(fd, SHUT_WR);
  // Lingering refusals hold descriptors too: no more of them than admitted connections.
  if (lingering_.size() >= std::min<size_t>(kMaxLingering, options_.max_connections)) {
    ::close(fd);
    return;
  }
  lingering_.emplace_back(fd, std::chrono::steady_clock::now() + kLinger);
}

namespace {

// A lingering close: the answer is followed by our FIN, then what the client still sends
// (the rest of a refused body) is read and dropped for a moment, at most 1 MiB in 2 s,
// so that the close finds no unread bytes to answer with a reset.
void DropWhatArrives(int fd) {
  ::shutdown(fd, SHUT_WR);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  char sink[16384];
  for (size_t dropped = 0; dropped < (size_t{1} << 20);) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd readable{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&readable, 1, static_cast<int>(left.count())) <= 0) return;
    const ssize_t got = ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
    if (got <= 0) return;
    dropped += static_cast<size_t>(got);
  }
}

}  // namespace

void HttpServer::ServeConnection(int fd, uint64_t id) {
  // Whatever happens below (even an exception from httplib), the connection leaves the
  // registry and its socket is closed.
  struct Closer {
    ConnectionRegistry& registry;
    int fd;
    uint64_t id;
    bool drain = false;  // DeadlineSocketStream::CloseAfterResponse
    ~Closer() {
      // Counted among the open connections while it drains: a client cannot pile them up
      // past http.max_connections.
      if (drain) DropWhatArrives(fd);
      registry.Remove(id);
      // A socket set to close with a reset (DeadlineSocketStream::Cut) is not shut down
      // first: its FIN would end the body in order.
      linger how{};
      socklen_t size = sizeof(how);
      const bool reset = ::getsockopt(fd, SOL_SOCKET, SO_LINGER, &how, &size) == 0 &&
                         how.l_onoff != 0 && how.l_linger == 0;
      if (!reset) ::shutdown(fd, SHUT_RDWR);
      ::close(fd);
    }
  } closer{registry_, fd, id};
  std::unique_ptr<Transport> transport;
  if (options_.tls != nullptr) {
    transport = AcceptTls(fd);
    if (!transport) return;
  }
  DeadlineSocketStream stream(fd, options_.timeouts, std::move(transport));
  DeadlineSocketStream::CurrentScope current(&stream);
  std::string remote_ip, local_ip;
  int remote_port = 0, local_port = 0;
  stream.get_remote_ip_and_port(remote_ip, remote_port);
  stream.get_local_ip_and_port(local_ip, local_port);
  for (size_t served = 0; served < options_.keep_alive_max_count; ++served) {
    if (!registry_.SetPhase(id, ConnectionRegistry::Phase::kIdle)) break;
    if (!stream.WaitForRequest()) break;
    if (served == 0 && options_.tls == nullptr && TakeTlsHandshake(fd)) {
      // httplib would answer its bytes with a 400 the TLS client cannot read.
      if (options_.logger != nullptr) {
        options_.logger->Warn(
            "a TLS handshake on the plain HTTP port: the client should use http:// (or "
            "set tls.cert and tls.key to serve HTTPS)",
            {{"remote", remote_ip + ":" + std::to_string(remote_port)}});
      }
      break;
    }
    // A connection idle when Stop() began was shut down; one that got here first serves
    // this request, saying it will close.
    const bool stopping = !registry_.SetPhase(id, ConnectionRegistry::Phase::kActive);
    stream.BeginHeaders();
    bool connection_closed = false;
    const bool close_connection = stopping || served + 1 == options_.keep_alive_max_count;
    // httplib asks for the set-up once a request's line and headers parsed. One that did not
    // parse was answered 400 "Connection: close", and so it ends here: kept open, the rest
    // of its bytes would each be answered again, and a client trickling lines would hold
    // this connection past every header deadline.
    bool parsed = false;
    const bool ok = process_request(stream, remote_ip, remote_port, local_ip, local_port,
                                    close_connection, connection_closed,
                                    [&stream, &parsed](httplib::Request&) {
                                      parsed = true;
                                      stream.BeginBody();
                                    });
    if (!parsed) break;
    // Before the other ends: a refusal's "Connection: close" ended it too, without the drain.
    if (stream.closes_after_response()) {
      closer.drain = true;
      break;
    }
    if (!ok || connection_closed || close_connection || stream.cut()) break;
  }
}

std::unique_ptr<Transport> HttpServer::AcceptTls(int fd) {
  // Bounded like a request's headers: a client that connects and never completes its
  // handshake holds this worker no longer.
  auto accepted = TlsTransport::Accept(
      *options_.tls, fd, std::chrono::steady_clock::now() + options_.timeouts.header);
  if (accepted.ok()) return std::move(*accepted);
  if (accepted.status().IsInvalid()) AnswerHttpsRequired(fd);  // plain HTTP
  if (options_.logger != nullptr) {
    options_.logger->Log(Logger::Level::kDebug, "HTTPS connection refused",
                         {{"remote", DeadlineSocketStream::PeerAddress(fd)},
                          {"error", accepted.status().message()}});
  }
  return nullptr;
}

void HttpServer::Stop(std::chrono::system_clock::time_point deadline,
                      std::chrono::milliseconds answer_window) {
  if (stopped_.exchange(true)) return;
  registry_.BeginStop();
  if (acceptor_.joinable()) {
    const char wake = 1;
    (void)::write(wake_[1], &wake, 1);
    acceptor_.join();
  }
  // Closing the listening socket refuses new clients. svr_sock_ keeps its value until the
  // requests in flight are done: httplib stops writing streamed responses once it is
  // INVALID_SOCKET.
  const int listener = svr_sock_;
  if (listener != INVALID_SOCKET) ::close(listener);
  if (!registry_.WaitUntilEmpty(deadline + answer_window)) registry_.ShutdownAll();
  svr_sock_ = INVALID_SOCKET;
  workers_.Shutdown();
  for (int& fd : wake_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

}  // namespace arrowport::http
