#pragma once

// What the Flight service is given (MakeFlightService), read by the service and by our
// own actions (actions.cc).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/query/database_report.h"

namespace arrowport {
class CallCancellation;
class CallWatchdog;
class MemoryBudget;
class Logger;
class RequestLimiter;
namespace ingest { class IngestPipeline; class StreamRouter; }
namespace query { class QueryPipeline; }
namespace flight::sql { class SessionRegistry; }
namespace flight { class ClusterView; class TransferPolicy; }
namespace metrics { class ServerMetrics; }
struct Principal;
}  // namespace arrowport

namespace arrowport::flight {

/// What the Flight adapter needs; all pointers outlive the service.
struct FlightServiceDeps {
  query::DatabaseControl database;  ///< health and checkpoint
  ingest::IngestPipeline* ingest = nullptr;
  /// The cluster this node serves in (design section 14); null: none.
  const ClusterView* cluster = nullptr;
  ingest::StreamRouter* router = nullptr;
  query::QueryPipeline* query = nullptr;
  Logger* logger = nullptr;
  CallWatchdog* watchdog = nullptr;  ///< cancels calls whose client left or timed out
  RequestLimiter* limiter = nullptr;  ///< limits.max_concurrent_requests
  int64_t query_timeout_s = 0;        ///< 0 = none
  int64_t write_stall_timeout_s = 0;  ///< limits.write_stall_timeout_s; 0 = none
  int64_t idle_timeout_s = 0;         ///< a DoPut silent this long is cancelled; 0 = never
  int64_t max_batch_bytes = int64_t{256} << 20;  ///< limits.max_batch_bytes
  /// Re-reads the configuration (action reload_config); may be empty.
  std::function<arrow::Status()> reload_config;
  /// What Flight SQL clients hold open (statements, transactions). Null: no Flight SQL.
  sql::SessionRegistry* sql_sessions = nullptr;
  /// How long a Flight SQL call waits for a transaction or session connection another
  /// call is using (flight.sql_busy_timeout_ms).
  std::chrono::milliseconds sql_busy_timeout{5000};
  /// The server-wide memory budget (reported by the health action); may be null.
  std::shared_ptr<MemoryBudget> request_memory;
  /// The largest ticket, command or action body (flight.max_query_bytes).
  int64_t max_command_bytes = int64_t{4} << 20;
  /// Peers copy_from / copy_to may reach (transfer.*). Null: the actions are refused.
  const TransferPolicy* transfer = nullptr;
  /// Every call is counted there when set (design section 8).
  metrics::ServerMetrics* metrics = nullptr;
  /// The status summary (action `status`, as HTTP's GET /status) for a caller; may be
  /// empty (the action is then refused).
  std::function<arrow::Result<std::string>(const Principal*)> status_json;
  /// The lake tables' upkeep as a JSON object ("" when there are none) for the `health`
  /// action; `with_details`: streams, URLs and errors. May be empty.
  std::function<std::string(bool with_details)> lake_health;
  /// Runs a backup to a destination (empty: backup.to) for the `backup` action, ended by
  /// the cancellation; answers its summary (JSON). May be empty (the action is refused).
  std::function<arrow::Result<std::string>(const std::string& destination,
                                           const std::shared_ptr<CallCancellation>&)>
      backup;
};

}  // namespace arrowport::flight
