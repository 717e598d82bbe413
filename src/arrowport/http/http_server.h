#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>
#include <utility>
#include <vector>

#include "arrow/result.h"
#include "arrowport/http/connection_registry.h"
#include "arrowport/http/deadline_socket_stream.h"
#include "arrowport/http/worker_pool.h"

namespace arrowport {
class Logger;
namespace metrics {
class Counter;
}
}  // namespace arrowport

namespace arrowport::http {

class TlsContext;

struct HttpServerOptions {
  size_t max_connections = 512;  ///< beyond it, new connections are answered 503
  /// Connections one client address may hold open, handshaking included (0 = no cap);
  /// beyond it its new connections are answered 429 at once (TLS: closed).
  size_t max_connections_per_address = 0;
  ConnectionTimeouts timeouts;
  size_t keep_alive_max_count = 1000;
  int listen_backlog = 1024;  ///< httplib compiles in 5: a burst of clients got resets
  /// HTTPS when set (outlives the server): each connection's worker runs the handshake,
  /// within the header timeout, before its first request.
  const TlsContext* tls = nullptr;
  Logger* logger = nullptr;  ///< failed handshakes are logged at debug level when set
  /// Counts the connections answered 503 busy at once (over max_connections); may be null.
  metrics::Counter* refused = nullptr;
};

/// \brief cpp-httplib's routing and request parsing with our own connection handling:
/// its accept loop and per-connection loop cannot bound how long a slow client holds a
/// worker, cap connections, or give in-flight requests a grace period at shutdown. This
/// server accepts on its own thread, admits at most `max_connections` (a connection
/// beyond them is answered 503 busy at once) and at most `max_connections_per_address`
/// from one address (429 at once), serves each admitted connection on its own
/// worker with a DeadlineSocketStream (header deadline, body read timeout, keep-alive
/// timeout) and calls httplib's process_request() for each request. With TLS, the
/// stream's transport is a TlsTransport set up on the worker.
///
/// Routes are registered on the base class as usual; call BindAndServe() once, never the
/// base class's listen().
class HttpServer : public httplib::Server {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer() override;

  /// Binds `host:port` (0 = any free port) and starts accepting. Returns the port.
  arrow::Result<int> BindAndServe(const std::string& host, int port);

  /// Stops accepting at once and closes idle connections; requests in flight may finish
  /// until `deadline`, then for `answer_window` more (calls the caller cancels at the
  /// deadline write their answers: a 503 listing what an upload committed), then their
  /// sockets are shut down (blocked reads and writes fail) and the workers are joined.
  /// Idempotent.
  void Stop(std::chrono::system_clock::time_point deadline,
            std::chrono::milliseconds answer_window = std::chrono::milliseconds(0));

  const ConnectionRegistry& connections() const { return registry_; }

 private:
  void AcceptLoop();
  /// Answers `response` (503 busy, 429 for an address over its share) on a refused
  /// connection, without a worker: the socket then lingers (its input drained) for a
  /// moment so the client reads the answer, not a reset. A TLS client gets no answer.
  void Refuse(int fd, const std::string& response);
  void ServeConnection(int fd, uint64_t id);
  /// The TLS handshake on `fd` (within the header timeout); null when it failed (logged;
  /// a plain HTTP request is answered 400 https_required in plain text).
  std::unique_ptr<Transport> AcceptTls(int fd);

  const HttpServerOptions options_;
  ConnectionRegistry registry_;
  WorkerPool workers_;
  int wake_[2] = {-1, -1};  // self-pipe: Stop() wakes the accept loop
  std::vector<std::pair<int, std::chrono::steady_clock::time_point>> lingering_;  // acceptor only
  std::atomic<bool> stopped_{false};
  std::thread acceptor_;
};

}  // namespace arrowport::http
