#include "arrowport/metrics/server_metrics.h"

#include <algorithm>

#include "arrowport/common/identifier.h"

namespace arrowport::metrics {

/// The live state of one stream label.
struct StreamState {
  explicit StreamState(std::string label) : label(std::move(label)) {}
  const std::string label;
  // Arrow bytes and wire bytes of the requests whose protocol reported wire bytes: the
  // stream's compression ratio.
  std::atomic<int64_t> arrow_bytes{0}, wire_bytes{0};
};

namespace {

constexpr const char* kOtherLabel = "other";

}  // namespace

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> buckets = {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,   0.05,   0.1,   0.25,   0.5,   1,
                                              2.5,     5,      10,    30,     60,    120};
  return buckets;
}

std::string ProtocolLabel(const std::string& protocol) {
  if (protocol.empty()) return "internal";  // the server's own queries (probes)
  std::string label = protocol;
  std::replace(label.begin(), label.end(), '-', '_');
  return label;
}

// ---- IngestMeter ----

IngestMeter::IngestMeter(ServerMetrics* metrics, std::string stream, std::string protocol)
    : metrics_(metrics),
      stream_(std::move(stream)),
      protocol_(ProtocolLabel(protocol)),
      bytes_received_(metrics->bytes_received_->With({protocol_})),
      wire_bytes_(metrics->wire_bytes_received_->With({protocol_})),
      rate_(metrics->RateOf(stream_)) {
  if (StreamState* state = metrics_->StateOf(stream_, /*assign=*/false)) {
    std::lock_guard<std::mutex> lock(mutex_);
    Bind(state);
  }
}

void IngestMeter::Bind(StreamState* state) {
  series_.state = state;
  series_.rows_received = &metrics_->rows_received_->With({state->label, protocol_});
  series_.rows_ingested = &metrics_->rows_ingested_->With({state->label, protocol_});
  series_.batches_ingested = &metrics_->batches_ingested_->With({state->label, protocol_});
  bound_.store(true, std::memory_order_release);
}

void IngestMeter::Received(int64_t rows, int64_t bytes) {
  bytes_received_.Add(bytes);
  arrow_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (rate_) rate_->Add(rows, ServerMetrics::NowSecond());
  if (!bound_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!bound_.load(std::memory_order_relaxed)) {
      pending_received_ += rows;
      return;
    }
  }
  series_.rows_received->Add(rows);
}

void IngestMeter::Committed(int64_t rows, int64_t batches) {
  if (!bound_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!bound_.load(std::memory_order_relaxed)) {
      pending_rows_ += rows;
      pending_batches_ += batches;
      return;
    }
  }
  series_.rows_ingested->Add(rows);
  series_.batches_ingested->Add(batches);
}

void IngestMeter::AddWireBytes(int64_t bytes) {
  wire_bytes_.Add(bytes);
  wire_bytes_total_.fetch_add(bytes, std::memory_order_relaxed);
}

void IngestMeter::Finish(const Outcome& outcome) {
  if (outcome.wire_bytes > 0) AddWireBytes(outcome.wire_bytes);
  StreamState* state = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!bound_.load(std::memory_order_relaxed)) {
      // A stream's first success gives it a label; a failure is counted under "other".
      StreamState* own =
          metrics_->StateOf(stream_, /*assign=*/outcome.ok || outcome.committed_some);
      Bind(own != nullptr ? own : metrics_->other_);
      series_.rows_received->Add(pending_received_);
      series_.rows_ingested->Add(pending_rows_);
      series_.batches_ingested->Add(pending_batches_);
    }
    state = series_.state;
  }
  const char* result = !outcome.ok ? "error" : outcome.duplicate ? "duplicate" : "ok";
  metrics_->ingest_requests_->With({state->label, protocol_, result}).Add();
  if (outcome.schema_mismatch) metrics_->schema_mismatches_->With({state->label}).Add();
  metrics_->ingest_latency_->With({protocol_}).Observe(outcome.seconds);
  const int64_t wire = wire_bytes_total_.load(std::memory_order_relaxed);
  if (outcome.ok && wire > 0) {
    state->wire_bytes.fetch_add(wire, std::memory_order_relaxed);
    state->arrow_bytes.fetch_add(arrow_bytes_.load(std::memory_order_relaxed),
                                 std::memory_order_relaxed);
  }
}

// ---- ServeMeter ----

void ServeMeter::Finish(bool ok, double seconds) const {
  (ok ? ok_ : failed_)->Add();
  latency_->Observe(seconds);
}

// ---- ServerMetrics ----

ServerMetrics::ServerMetrics(MetricsOptions options) : options_(options) {
  auto other = std::make_unique<StreamState>(kOtherLabel);
  other_ = other.get();
  streams_.emplace(kOtherLabel, std::move(other));
  RegisterFamilies();
}

ServerMetrics::~ServerMetrics() = default;

void ServerMetrics::RegisterFamilies() {
  RegisterIngestFamilies();
  RegisterQueryFamilies();
  RegisterCallFamilies();
}

// What ingest streams bring: rows, batches, bytes (decoded and as sent), requests by
// outcome, and their duration.
void ServerMetrics::RegisterIngestFamilies() {
  auto& r = registry_;
  rows_received_ = &r.AddCounter(
      "arrowport_rows_received_total",
      "Rows read from ingest streams and validated, before their commit", {"stream", "protocol"});
  rows_ingested_ = &r.AddCounter("arrowport_rows_ingested_total",
                                 "Rows committed to their table", {"stream", "protocol"});
  batches_ingested_ = &r.AddCounter("arrowport_batches_ingested_total",
                                    "Record batches committed to their table",
                                    {"stream", "protocol"});
  ingest_requests_ = &r.AddCounter(
      "arrowport_ingest_requests_total",
      "Ingest requests by outcome (ok; error; duplicate: a retry of a committed request id)",
      {"stream", "protocol", "outcome"});
  schema_mismatches_ = &r.AddCounter(
      "arrowport_schema_mismatches_total",
      "Ingest requests refused because their batches did not fit the table", {"stream"});
  bytes_received_ = &r.AddCounter("arrowport_bytes_received_total",
                                  "Arrow buffer bytes of ingest streams, decoded", {"protocol"});
  wire_bytes_received_ = &r.AddCounter(
      "arrowport_wire_bytes_received_total",
      "Bytes of ingest streams as they arrived, before IPC or HTTP decompression",
      {"protocol"});
  r.AddCallback("arrowport_compression_ratio",
                "Arrow bytes per byte received on the wire, per stream, since the start",
                MetricType::kGauge, {"stream"}, [this] {
                  std::vector<Sample> out;
                  std::lock_guard<std::mutex> lock(streams_mutex_);
                  for (const auto& [label, state] : streams_) {
                    const auto wire = state->wire_bytes.load(std::memory_order_relaxed);
                    if (wire <= 0) continue;
                    out.push_back({{label}, static_cast<double>(state->arrow_bytes.load()) /
                                                static_cast<double>(wire)});
                  }
                  return out;
                });
  ingest_latency_ = &r.AddHistogram("arrowport_ingest_latency_seconds",
                                    "Duration of ingest requests, until their last commit",
                                    {"protocol"}, LatencyBuckets());
}

// What queries hand out: rows, bytes, results by outcome, and their duration.
void ServerMetrics::RegisterQueryFamilies() {
  auto& r = registry_;
  rows_served_ = &r.AddCounter("arrowport_rows_served_total",
                               "Rows of query results handed to clients", {"protocol"});
  bytes_served_ = &r.AddCounter("arrowport_bytes_served_total",
                                "Arrow buffer bytes of query results handed to clients",
                                {"protocol"});
  queries_ = &r.AddCounter("arrowport_queries_total",
                           "Queries whose result ended, by outcome (ok, error)",
                           {"protocol", "outcome"});
  query_latency_ = &r.AddHistogram(
      "arrowport_query_latency_seconds",
      "Duration of queries, from their start to the end of their result", {"protocol"},
      LatencyBuckets());
}

// Every call, whatever it does: by method, failed ones by code, their duration, those
// running now, and the uptime.
void ServerMetrics::RegisterCallFamilies() {
  auto& r = registry_;
  // Written before the counters: a call counts as running until it is counted (EndCall),
  // so a scrape that reads the running calls first never misses one in both.
  r.AddCallback("arrowport_active_requests", "Calls running now", MetricType::kGauge,
                {"protocol"}, [this] {
                  std::map<std::string, int64_t> counts;
                  for (const char* protocol : {"flight", "flight_sql", "http"}) {
                    counts[protocol] = 0;
                  }
                  {
                    std::lock_guard<std::mutex> lock(calls_mutex_);
                    for (const auto& [id, call] : calls_) ++counts[call.protocol];
                  }
                  std::vector<Sample> out;
                  for (const auto& [protocol, n] : counts) {
                    out.push_back({{protocol}, static_cast<double>(n)});
                  }
                  return out;
                });
  requests_ = &r.AddCounter("arrowport_requests_total",
                            "Calls by protocol and method (Flight method; HTTP method and route)",
                            {"protocol", "method"});
  errors_ = &r.AddCounter(
      "arrowport_errors_total",
      "Failed calls by protocol and the code the client saw (gRPC status, HTTP status)",
      {"protocol", "code"});
  request_duration_ = &r.AddHistogram(
      "arrowport_request_duration_seconds",
      "Duration of calls, until their response or result stream ended", {"protocol"},
      LatencyBuckets());
  r.AddCallback("arrowport_uptime_seconds", "Seconds since the server started",
                MetricType::kGauge, {}, [this] {
                  return std::vector<Sample>{{{}, UptimeSeconds()}};
                });
}

void ServerMetrics::SetConfiguredStreams(const std::vector<std::string>& streams) {
  std::lock_guard<std::mutex> lock(streams_mutex_);
  configured_ = std::set<std::string>(streams.begin(), streams.end());
  for (const auto& name : configured_) {
    if (!streams_.count(name)) streams_.emplace(name, std::make_unique<StreamState>(name));
  }
}

StreamState* ServerMetrics::StateOf(const std::string& stream, bool assign) {
  std::lock_guard<std::mutex> lock(streams_mutex_);
  if (stream == kOtherLabel) return other_;
  auto found = streams_.find(stream);
  if (found != streams_.end()) return found->second.get();
  if (!assign) return nullptr;
  if (stream.empty() || own_labels_ >= options_.max_stream_labels) return other_;
  ++own_labels_;
  return streams_.emplace(stream, std::make_unique<StreamState>(stream))
      .first->second.get();
}

std::shared_ptr<IngestMeter> ServerMetrics::BeginIngest(const std::string& stream,
                                                        const std::string& protocol) {
  return std::make_shared<IngestMeter>(this, stream, protocol);
}

Counter& ServerMetrics::ReceivedBytes(const std::string& protocol) {
  return bytes_received_->With({ProtocolLabel(protocol)});
}

ServeMeter ServerMetrics::BeginServe(const std::string& protocol) {
  const std::string label = ProtocolLabel(protocol);
  ServeMeter meter;
  meter.rows_ = &rows_served_->With({label});
  meter.bytes_ = &bytes_served_->With({label});
  meter.ok_ = &queries_->With({label, "ok"});
  meter.failed_ = &queries_->With({label, "error"});
  meter.latency_ = &query_latency_->With({label});
  return meter;
}

std::shared_ptr<RateHistory> ServerMetrics::RateOf(const std::string& stream) {
  if (!ValidateName("stream", stream).ok()) return nullptr;
  std::lock_guard<std::mutex> lock(rates_mutex_);
  auto found = rates_.find(stream);
  if (found != rates_.end()) {
    rate_order_.splice(rate_order_.begin(), rate_order_, found->second.position);
    return found->second.history;
  }
  if (rates_.size() >= kRateStreams) {
    rates_.erase(rate_order_.back());  // a meter still writing keeps its own reference
    rate_order_.pop_back();
  }
  rate_order_.push_front(stream);
  auto history = std::make_shared<RateHistory>();
  rates_.emplace(stream, Rate{history, rate_order_.begin()});
  return history;
}

std::map<std::string, std::vector<int64_t>> ServerMetrics::StreamRates(int seconds) const {
  const int64_t now = NowSecond();
  std::map<std::string, std::vector<int64_t>> out;
  std::lock_guard<std::mutex> lock(rates_mutex_);
  for (const auto& [stream, rate] : rates_) {
    auto series = rate.history->Last(seconds, now);
    if (std::any_of(series.begin(), series.end(), [](int64_t n) { return n != 0; })) {
      out.emplace(stream, std::move(series));
    }
  }
  return out;
}

int64_t ServerMetrics::NowSecond() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double ServerMetrics::UptimeSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

}  // namespace arrowport::metrics
