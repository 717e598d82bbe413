#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrow::flight {
class FlightClient;
class FlightCallOptions;
}  // namespace arrow::flight

namespace arrowport::cli {

/// A table/view offered by a server, from ListFlights.
struct RemoteTable {
  std::string name;
  int64_t rows = -1;
  std::string schema;
};

/// Who the CLI signs in as: ARROWPORT_USER (unset or empty: no one, a server without
/// authentication) with ARROWPORT_PASSWORD (unset: empty). Flight exchanges them once for
/// a token; HTTP sends them as Basic on each request.
struct ClientCredentials {
  std::string user;
  std::string password;
};
std::optional<ClientCredentials> CredentialsFromEnvironment();

/// \brief What the CLI and the benchmark need from a server, over either protocol.
class DataClient {
 public:
  virtual ~DataClient() = default;
  /// Sends every batch of `source` to the stream named in `command` (ingest JSON:
  /// stream, table, mode, commit); returns the server's summary JSON.
  virtual arrow::Result<std::string> Put(
      const std::string& command, const std::shared_ptr<arrow::RecordBatchReader>& source) = 0;
  /// Runs a ticket (`{"sql": ...}` or `{"table": ...}`); the reader is valid while this
  /// client lives.
  virtual arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Get(
      const std::string& ticket) = 0;
  /// The server's status summary (JSON): the `status` action, or HTTP's GET /status.
  virtual arrow::Result<std::string> Status() = 0;
  /// Whether the server is ready (JSON): HTTP's GET /readyz, which asks no sign-in (a
  /// container's health check has no password), or the `health` action. An error when not.
  virtual arrow::Result<std::string> Ready() = 0;
};

/// grpc://host:port or grpc+tls:// -> Flight; http:// or https:// -> the HTTP gateway.
/// `tls_ca`: a PEM file of CA certificates to trust for TLS instead of the system's.
/// `connect_wait_s` >= 0: first waits up to that long for a server that refuses
/// connections (server_probe.h's WaitForServer, whose errors name --server); < 0: no check.
/// Calls that fail for TLS (a mismatch, an untrusted certificate) say so (ExplainTls).
arrow::Result<std::unique_ptr<DataClient>> ConnectDataClient(const std::string& url,
                                                             const std::string& tls_ca = "",
                                                             double connect_wait_s = -1);

/// \brief A Flight client connection to an Arrowport server (or any Flight server).
/// Not thread-safe; one per command.
class FlightConnection : public DataClient {
 public:
  /// `url`: grpc://host:port (grpc+tcp:// accepted) or grpc+tls://host:port; `tls_ca`: a
  /// PEM file of CA certificates to trust instead of the system's.
  /// `connect_wait_s`: as ConnectDataClient's.
  static arrow::Result<std::unique_ptr<FlightConnection>> Connect(const std::string& url,
                                                                  const std::string& tls_ca = "",
                                                                  double connect_wait_s = -1);
  ~FlightConnection() override;

  /// \brief DoPut of every batch of `source` under a CMD descriptor (JSON). Returns the
  /// server's final PutResult metadata (the ingest summary JSON).
  arrow::Result<std::string> Put(
      const std::string& command,
      const std::shared_ptr<arrow::RecordBatchReader>& source) override;

  /// DoGet of a ticket; the reader is valid while this connection lives.
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Get(
      const std::string& ticket) override;
  /// The same, sending `progress_key` for a QueryProgressPoller (whose asks, Action(),
  /// may run on another thread while this call runs).
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Get(
      const std::string& ticket, const std::string& progress_key);

  arrow::Result<std::string> Status() override { return Action("status"); }
  arrow::Result<std::string> Ready() override { return Action("health"); }

  /// DoAction; returns the body of the first result ("" when none). `timeout_s` (> 0)
  /// bounds the call (a poll that must not hold up what waits for it).
  arrow::Result<std::string> Action(const std::string& type, const std::string& body = "",
                                    double timeout_s = 0);
  /// DoAction reading every result: `each` gets each body as it comes; returns the last.
  arrow::Result<std::string> ActionResults(const std::string& type, const std::string& body,
                                           const std::function<void(const std::string&)>& each);

  arrow::Result<std::vector<RemoteTable>> ListTables();

  /// Signs in again with CredentialsFromEnvironment() (a token expired); a no-op without
  /// credentials.
  arrow::Status SignIn();

  /// The signed-in Flight client and the options its calls carry (the bearer token), for
  /// a protocol on top of Flight (the SQL shell's Flight SQL).
  std::shared_ptr<arrow::flight::FlightClient> flight_client() const;
  const arrow::flight::FlightCallOptions& call_options() const;

 private:
  struct Impl;
  explicit FlightConnection(std::unique_ptr<Impl> impl);
  arrow::Result<std::string> PutBatches(const std::string& command,
                                        const std::shared_ptr<arrow::RecordBatchReader>& source);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arrowport::cli
