#pragma once

// Internal to the Flight adapter: the one way every Flight and Flight SQL method runs.

#include <arrow/flight/server.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>

#include "arrowport/common/logger.h"
#include "arrowport/flight/call_scope.h"
#include "arrowport/flight/status_code_interceptor.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/flight/sql/current_call.h"

namespace arrowport {
class CallWatchdog;
class RequestLimiter;
}  // namespace arrowport

namespace arrowport::flight {

/// Whether limits.query_timeout_s bounds a call: queries and SQL statements do; uploads
/// (DoPut ingest) and short control calls do not.
enum class Deadline { kNone, kQuery };

/// What one call reports in its log line: fields the method adds as it learns them
/// (stream, table, rows, ...) and how it ended ("ok", or "streaming" for a result that
/// still flows when the method returns).
struct CallRecord {
  Logger::Fields fields;
  std::string outcome = "ok";
  /// A write of the call committed too late to keep (CallContext::committed_late), or
  /// committed in a call that then failed (CallContext::committed): logged as a warning,
  /// whatever the call's status (often the failed reply), so that an operator can tell
  /// such a write from one rolled back.
  bool committed_late = false;
  /// The call in the metrics (null when they are off); shared with the call's scope,
  /// which may outlive the method in a result stream.
  std::shared_ptr<metrics::CallMeter> meter;

  /// Adds a log field; a "stream", "table" or "action" also names what the call works on
  /// for the status page's active calls.
  void Add(std::string key, std::string value) {
    if (meter && (key == "stream" || key == "table" || key == "action")) meter->SetTarget(value);
    fields.emplace_back(std::move(key), std::move(value));
  }
  /// The call is a Flight SQL command: so logged, and so counted in the metrics.
  void UseFlightSql(CallScope& scope) {
    fields.push_back({"api", "flight_sql"});
    scope.context.protocol = "flight_sql";
    if (meter) meter->SetProtocol("flight_sql");
  }
};

/// \brief Runs every Flight and Flight SQL method the same way (as Arrow's Flight SQL
/// server funnels its commands): admission (limits.max_concurrent_requests and the
/// per-user limits), the caller's principal (authenticated by the middleware before any
/// method runs), the watchdog that cancels the call when its client leaves, its deadline
/// passes or the server stops, the call context published to Flight SQL handlers
/// (CurrentCall), a catch-all that turns any exception into a Status, one log line per
/// call, and the mapping of the Status to a Flight status. Thread-safe.
class CallRunner {
 public:
  struct Options {
    CallWatchdog* watchdog = nullptr;
    RequestLimiter* limiter = nullptr;
    Logger* logger = nullptr;
    int64_t query_timeout_s = 0;  ///< 0 = none
    int64_t write_stall_timeout_s = 0;  ///< limits.write_stall_timeout_s; 0 = none
    /// The largest ticket, command or action body a call may carry (flight.max_query_bytes):
    /// SQL text is parsed and planned at ~100 bytes of memory per byte.
    int64_t max_command_bytes = int64_t{4} << 20;
    metrics::ServerMetrics* metrics = nullptr;  ///< every call counted there when set
  };
  explicit CallRunner(Options options) : options_(options) {}

  /// Runs `fn(CallScope&, CallRecord&)` for `method`. `fn` may move the scope into a
  /// result stream that outlives the method (a DoGet), which then keeps the call admitted
  /// and watched until the stream ends.
  template <typename Fn>
  arrow::Status Run(const char* method, const arrow::flight::ServerCallContext& context,
                    Deadline deadline, Fn&& fn) {
    const auto start = std::chrono::steady_clock::now();
    MarkCallHandled();  // its outcome is logged here, not by the interceptor
    CallRecord record;
    if (options_.metrics != nullptr) {
      record.meter = std::make_shared<metrics::CallMeter>(
          options_.metrics->BeginCall("flight", method, UserOf(context)));
    }
    arrow::Status st;
    try {
      auto scope = Admit(method, context, deadline);
      if (scope.ok()) {
        scope->meter = record.meter;
        if (record.meter) scope->context.progress = record.meter->progress();
        const auto cancellation = scope->context.cancellation;
        // fn may move the scope
        const auto committed_late = scope->context.committed_late;
        const auto committed = scope->context.committed;
        sql::CurrentCall current(&scope->context);
        st = fn(*scope, record);
        // A call stopped by its deadline, its client or the server fails for that reason,
        // whatever DuckDB said about the interrupt (a commit of unknown outcome says so).
        st = cancellation->Explain(st);
        // A write committed, and the call failed after all (its reply): kept, whatever
        // the client was told, so not logged as a failure.
        record.committed_late = (committed_late && committed_late->load()) ||
                                (!st.ok() && committed && committed->load());
      } else {
        st = scope.status();
      }
    } catch (const std::exception& e) {
      st = InternalError(method, e.what());
    } catch (...) {
      st = InternalError(method, "unknown exception");
    }
    return Finish(method, context, start, st, std::move(record));
  }

  /// TooLarge when a call's ticket, command or action body (`what`) passes
  /// flight.max_query_bytes.
  arrow::Status CheckCommandSize(size_t size, const char* what) const;

  /// A bug of ours surfaced as an exception: gRPC INTERNAL, logged like any failure.
  static arrow::Status InternalError(const char* method, const char* what);

  /// The authenticated user of `context` ("-" when there is none).
  static std::string UserOf(const arrow::flight::ServerCallContext& context);

 private:
  arrow::Result<CallScope> Admit(const char* method,
                                 const arrow::flight::ServerCallContext& context,
                                 Deadline deadline);
  /// Logs the call once and maps `status` for Flight.
  arrow::Status Finish(const char* method, const arrow::flight::ServerCallContext& context,
                       std::chrono::steady_clock::time_point start, const arrow::Status& status,
                       CallRecord record);

  const Options options_;
};

}  // namespace arrowport::flight
