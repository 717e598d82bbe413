#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "arrowport/common/call_context.h"
#include "arrowport/metrics/rate_history.h"
#include "arrowport/metrics/registry.h"

namespace arrowport::metrics {

/// Latency buckets in seconds: they resolve a sub-millisecond round trip and a minute-long
/// load (0.25 ms .. 120 s).
const std::vector<double>& LatencyBuckets();

/// The label value for a protocol name: `flight-copy` -> `flight_copy` (one spelling).
std::string ProtocolLabel(const std::string& protocol);

struct MetricsOptions {
  /// Streams outside the routing config that get a `stream` label of their own: the first
  /// ones whose ingest succeeds. Every other stream shares `stream="other"`, so no client
  /// can grow the metrics without bound (metrics.max_stream_labels).
  size_t max_stream_labels = 100;
};

class ServerMetrics;
struct StreamState;

/// \brief What one ingest request adds to the metrics, from its first batch to its end.
/// Received() may be called from the read-ahead thread while the writer calls
/// Committed(); Finish() once, after the last of them. A stream that has no label yet (its
/// first request) is counted here and added to its label when it ends, so names that never
/// succeed take no label. Thread-safe.
class IngestMeter {
 public:
  IngestMeter(ServerMetrics* metrics, std::string stream, std::string protocol);
  IngestMeter(const IngestMeter&) = delete;
  IngestMeter& operator=(const IngestMeter&) = delete;

  /// A batch read from the client and validated (rows, Arrow buffer bytes).
  void Received(int64_t rows, int64_t bytes);
  /// Rows made durable by a commit.
  void Committed(int64_t rows, int64_t batches);
  /// Bytes of the request as they arrived (before IPC body or HTTP decompression).
  void AddWireBytes(int64_t bytes);

  struct Outcome {
    bool ok = false;
    bool schema_mismatch = false;
    bool duplicate = false;  ///< an idempotent retry: nothing written
    double seconds = 0;
    /// Some of it was committed although it failed later (per_batch): the stream gets its
    /// label as for a success.
    bool committed_some = false;
    /// Bytes of the request as they arrived (AddWireBytes), added at its end; 0: unknown.
    int64_t wire_bytes = 0;
  };
  void Finish(const Outcome& outcome);

 private:
  // The stream's series once it has a label; null before (mutex_ guards the change).
  struct Series {
    StreamState* state = nullptr;
    Counter* rows_received = nullptr;
    Counter* rows_ingested = nullptr;
    Counter* batches_ingested = nullptr;
  };
  void Bind(StreamState* state);  // with mutex_ held

  ServerMetrics* const metrics_;
  const std::string stream_;
  const std::string protocol_;
  Counter& bytes_received_;
  Counter& wire_bytes_;
  const std::shared_ptr<RateHistory> rate_;  // the stream's rows per second (null: none)
  std::mutex mutex_;  // guards series_ while unbound, and the pending counts
  std::atomic<bool> bound_{false};
  Series series_;
  int64_t pending_received_ = 0, pending_rows_ = 0, pending_batches_ = 0;
  std::atomic<int64_t> arrow_bytes_{0}, wire_bytes_total_{0};
};

/// \brief What one query result adds: rows and bytes handed to the client, and at its end
/// its duration and outcome. Copyable handles to the registry's series; thread-safe.
class ServeMeter {
 public:
  void Served(int64_t rows, int64_t bytes) const {
    rows_->Add(rows);
    bytes_->Add(bytes);
  }
  void Finish(bool ok, double seconds) const;

 private:
  friend class ServerMetrics;
  Counter* rows_ = nullptr;
  Counter* bytes_ = nullptr;
  Counter* ok_ = nullptr;
  Counter* failed_ = nullptr;
  Histogram* latency_ = nullptr;
};

/// A call running now, for the status page.
struct ActiveCall {
  std::string protocol, method, user, target;
  double seconds = 0;  ///< running for
  int64_t rows = 0;    ///< moved so far (CallProgress)
  int64_t bytes = 0;
};

/// A failed call, for the status page (the most recent ones are kept).
struct RecentError {
  int64_t unix_time = 0;
  std::string protocol, method, code, user, message;
};

/// \brief One call (a Flight or Flight SQL method, an HTTP request) from admission to the
/// end of its response, result streams included: counted as active while it lives, and
/// when destroyed recorded once (requests, duration, and the error code if it failed).
/// Move-only; a default-made meter records nothing (metrics off). Not thread-safe: one
/// call's thread at a time uses it.
class CallMeter {
 public:
  CallMeter() = default;
  CallMeter(CallMeter&& other) noexcept;
  CallMeter& operator=(CallMeter&& other) noexcept;
  CallMeter(const CallMeter&) = delete;
  CallMeter& operator=(const CallMeter&) = delete;
  ~CallMeter() { Record(); }

  /// Flight calls that turn out to be Flight SQL; HTTP calls once routed.
  void SetProtocol(std::string protocol);
  /// Once authenticated (HTTP authenticates after the call began).
  void SetUser(std::string user);
  void SetMethod(std::string method);
  /// What the call works on (a stream or table name), shown on the status page.
  void SetTarget(std::string target);
  /// How the call ended: an empty `code` is success, else the code the client saw
  /// ("NOT_FOUND", "503"). The last one set counts; `message` goes to the recent errors.
  void SetOutcome(std::string code, std::string message = "");
  /// The code alone (an HTTP status), keeping a message set before, else taking
  /// `message`.
  void SetCode(std::string code, std::string message = "") {
    code_ = std::move(code);
    if (message_.empty()) message_ = std::move(message);
  }
  /// Whether an error outcome is set.
  bool failed() const { return !code_.empty(); }
  /// Where the pipelines add what this call moves (put it in the call's CallContext);
  /// null for a meter that records nothing.
  const std::shared_ptr<CallProgress>& progress() const { return progress_; }

 private:
  friend class ServerMetrics;
  CallMeter(ServerMetrics* metrics, uint64_t id, std::shared_ptr<CallProgress> progress);
  void Record();
  /// Applies `change` to this call's entry in the active calls (status page).
  template <typename Fn>
  void Update(Fn&& change);

  // The call's protocol, method, user and start live in its entry of the active calls.
  ServerMetrics* metrics_ = nullptr;
  uint64_t id_ = 0;
  std::string code_, message_;
  std::shared_ptr<CallProgress> progress_;
};

/// \brief The metrics of one server (design section 8): the one module the pipelines and
/// the call runners update, and the live state the status page shows (active calls,
/// recent errors, per-stream rates). Counters live as long as the server: a config reload
/// only changes which streams are configured. Thread-safe.
class ServerMetrics {
 public:
  explicit ServerMetrics(MetricsOptions options = {});
  ~ServerMetrics();

  Registry& registry() { return registry_; }

  /// The routing config's streams: each always has a label of its own.
  void SetConfiguredStreams(const std::vector<std::string>& streams);

  std::shared_ptr<IngestMeter> BeginIngest(const std::string& stream,
                                           const std::string& protocol);
  /// The received-bytes counter of `protocol`, for an upload that is not a stream's (a
  /// DoExchange's input): look it up once, add to it per batch.
  Counter& ReceivedBytes(const std::string& protocol);
  ServeMeter BeginServe(const std::string& protocol);
  CallMeter BeginCall(const std::string& protocol, std::string method, std::string user);

  /// HTTP connections answered 503 at once: over http.max_connections.
  Counter& http_connections_refused() { return http_connections_refused_; }

  std::vector<ActiveCall> ActiveCalls() const;
  std::vector<RecentError> RecentErrors() const;
  /// Rows received per second over the last `seconds` seconds, by stream name, for the
  /// streams that received any in that time.
  std::map<std::string, std::vector<int64_t>> StreamRates(int seconds) const;
  /// Streams whose rows per second are kept (by name, whatever their label): the least
  /// recently written past this many are forgotten.
  static constexpr size_t kRateStreams = 256;
  /// Seconds of the monotonic clock the rates are kept in.
  static int64_t NowSecond();
  double UptimeSeconds() const;

 private:
  friend class IngestMeter;
  friend class CallMeter;

  /// The state of `stream`'s label: its own when configured or already labelled, a new one
  /// when `assign` and labels remain, else the shared "other"; null when not `assign` and
  /// the stream has no label yet.
  StreamState* StateOf(const std::string& stream, bool assign);
  /// `stream`'s rate, made (or made the most recently used) now; null for a name that
  /// is not a valid stream name.
  std::shared_ptr<RateHistory> RateOf(const std::string& stream);
  void EndCall(CallMeter& meter);
  void RegisterFamilies();  // the three below, in this order
  void RegisterIngestFamilies();
  void RegisterQueryFamilies();
  void RegisterCallFamilies();

  const MetricsOptions options_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  Registry registry_;

  Family<Counter>* rows_received_;
  Family<Counter>* rows_ingested_;
  Family<Counter>* batches_ingested_;
  Family<Counter>* ingest_requests_;
  Family<Counter>* schema_mismatches_;
  Family<Counter>* bytes_received_;
  Family<Counter>* wire_bytes_received_;
  Family<Histogram>* ingest_latency_;
  Family<Counter>* rows_served_;
  Family<Counter>* bytes_served_;
  Family<Counter>* queries_;
  Family<Histogram>* query_latency_;
  Family<Counter>* requests_;
  Family<Counter>* errors_;
  Family<Histogram>* request_duration_;
  Counter http_connections_refused_;  // exposed by the server with its own refusals

  mutable std::mutex streams_mutex_;  // guards streams_, configured_, own_labels_
  std::map<std::string, std::unique_ptr<StreamState>> streams_;  // by label
  std::set<std::string> configured_;
  size_t own_labels_ = 0;  // unconfigured streams with a label of their own
  StreamState* other_;

  mutable std::mutex rates_mutex_;  // guards rates_ and rate_order_
  std::list<std::string> rate_order_;  // most recently written first
  struct Rate {
    std::shared_ptr<RateHistory> history;
    std::list<std::string>::iterator position;
  };
  std::map<std::string, Rate> rates_;

  mutable std::mutex calls_mutex_;  // guards next_call_, calls_ and recent_errors_
  uint64_t next_call_ = 1;
  struct CallEntry {
    std::string protocol, method, user, target;
    std::chrono::steady_clock::time_point start;
    std::shared_ptr<CallProgress> progress;
  };
  std::map<uint64_t, CallEntry> calls_;
  std::deque<RecentError> recent_errors_;
};

}  // namespace arrowport::metrics
