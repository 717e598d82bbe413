#pragma once

#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/config/config.h"

namespace arrowport::server {

/// How the server was configured, so reload_config can rebuild the same way.
struct ServerSetup {
  config::Config config;
  std::string config_path;                   ///< "" when started without a file
  std::vector<std::string> environ_entries;  ///< snapshot of ARROWPORT_* at start
  config::Overrides overrides;
};

/// \brief One Arrowport process: the embedded database, the shared ingest and query
/// pipelines, and the protocol front ends over them.
class Server {
 public:
  /// Opens the database, creates configured views and starts listening (non-blocking).
  static arrow::Result<std::unique_ptr<Server>> Start(ServerSetup setup);
  ~Server();

  /// `arrowport ready flight=grpc://host:port http=http://host:port` (machine-readable;
  /// grpc+tls:// and https:// with tls.cert).
  std::string ReadyLine() const;
  std::string flight_uri() const;
  std::string http_uri() const;
  int flight_port() const;

  /// Blocks until SIGINT or SIGTERM, then drains in-flight calls and checkpoints.
  arrow::Status ServeUntilSignal();
  /// Stops accepting, waits for in-flight calls, checkpoints. Idempotent.
  arrow::Status Shutdown();

 private:
  struct Impl;
  // server_test.cc reaches the wiring behind this interface (routing, reloads, status).
  friend class ServerTestPeer;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arrowport::server
