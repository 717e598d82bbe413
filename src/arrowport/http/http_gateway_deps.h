#pragma once

// What the HTTP gateway is given (HttpGateway::Start), read by the gateway and by its
// handlers through GatewayContext.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "arrow/result.h"

namespace arrowport {
class MemoryBudget;
namespace auth { class Authenticator; }
class CallCancellation;
class CallWatchdog;
class Logger;
class RequestLimiter;
namespace ingest { class IngestPipeline; class StreamRouter; }
namespace query { class QueryPipeline; }
namespace metrics { class ServerMetrics; }
struct Principal;
}  // namespace arrowport

namespace arrowport::http {

class TlsContext;

/// When a result body is compressed, given a client that offers a coding
/// (http.compression; the rule is ResponseCompression's).
enum class CompressionRule {
  kAuto,    ///< not for a client on this host: there it only costs CPU on both ends
  kAlways,  ///< whenever offered
  kNever,
};

/// What the HTTP adapter needs; all pointers outlive the gateway.
struct HttpGatewayDeps {
  ingest::IngestPipeline* ingest = nullptr;
  ingest::StreamRouter* router = nullptr;
  query::QueryPipeline* query = nullptr;
  Logger* logger = nullptr;
  int64_t max_body_bytes = int64_t{4} << 30;
  int64_t max_query_bytes = int64_t{4} << 20;  ///< one /query body (http.max_query_bytes)
  /// The server-wide memory budget bodies and decoded batches draw from; may be null.
  std::shared_ptr<MemoryBudget> request_memory;
  int compression_level = 3;  ///< zstd level for compressed responses
  CompressionRule compression = CompressionRule::kAuto;
  CallWatchdog* watchdog = nullptr;   ///< cancels calls whose client left or timed out
  RequestLimiter* limiter = nullptr;  ///< limits.max_concurrent_requests
  int64_t query_timeout_s = 0;        ///< 0 = none
  int64_t max_batch_bytes = int64_t{256} << 20;  ///< one decoded record batch
  int max_connections = 512;          ///< beyond it, new connections are answered 503
  /// Open connections per client address (0 = no cap); beyond it 429 at once.
  int64_t max_connections_per_address = 0;
  int64_t header_timeout_s = 10;      ///< request line and headers must arrive within this
  int64_t read_timeout_s = 30;        ///< longest wait for the next bytes of a body
  /// Longest wait for the client to take more of a response (limits.write_stall_timeout_s);
  /// 0 = none.
  int64_t write_stall_timeout_s = 120;
  /// Who may call (every route but /healthz and /readyz); required.
  const auth::Authenticator* authenticator = nullptr;
  /// Shown in /readyz when set (authentication explicitly off on a public address).
  std::string readyz_warning;
  const TlsContext* tls = nullptr;    ///< HTTPS when set (tls.cert, tls.key, tls.client_ca)
  /// Every request is counted there, and served at GET /metrics, when set.
  metrics::ServerMetrics* metrics = nullptr;
  /// The status summary (GET /status, and the page GET / shows) for a caller; may be
  /// empty (then both answer 404).
  std::function<arrow::Result<std::string>(const Principal*)> status_json;
  /// The storage's state as a JSON object (storage::StorageHealthJson) for /healthz and
  /// /readyz; `with_details`: paths and DuckDB's errors. May be empty.
  std::function<std::string(bool with_details)> storage_health;
  /// The lake tables' upkeep as a JSON object for /healthz ("" when there are none);
  /// `with_details`: streams, URLs and errors. May be empty.
  std::function<std::string(bool with_details)> lake_health;
  /// Runs a backup to a destination (empty: backup.to) for POST /admin/backup, ended by
  /// the cancellation; answers its summary (JSON). May be empty (the route answers 404).
  std::function<arrow::Result<std::string>(const std::string& destination,
                                           const std::shared_ptr<CallCancellation>&)>
      backup;
  /// The last backups' outcome as a JSON object for /healthz ("" when none is
  /// configured nor run); `with_details`: the last error. May be empty.
  std::function<std::string(bool with_details)> backup_health;
};

}  // namespace arrowport::http
