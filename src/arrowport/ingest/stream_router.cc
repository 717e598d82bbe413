#include "arrowport/ingest/stream_router.h"

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

namespace arrowport::ingest {

namespace {
std::string NowIso8601() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

StreamRouter::StreamRouter(config::Config config) : config_(std::move(config)) {}

config::StreamConfig StreamRouter::Route(const std::string& stream) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return config::RouteFor(config_, stream);
}

void StreamRouter::Update(config::Config config) {
  std::lock_guard<std::mutex> lock(mutex_);
  config_ = std::move(config);
}

void StreamRouter::RecordSuccess(const std::string& stream, int64_t rows, int64_t batches,
                                 int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& c = counters_[stream];
  c.rows += rows;
  c.batches += batches;
  c.bytes += bytes;
  c.requests += 1;
  c.last_write = NowIso8601();
}

void StreamRouter::RecordError(const std::string& stream, bool schema_mismatch) {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_[stream].errors += 1;
  if (schema_mismatch) counters_[stream].schema_mismatches += 1;
}

std::map<std::string, std::pair<config::StreamConfig, StreamCounters>>
StreamRouter::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, std::pair<config::StreamConfig, StreamCounters>> out;
  for (const auto& [name, _] : config_.streams) {
    out[name] = {config::RouteFor(config_, name), {}};
  }
  for (const auto& [name, counters] : counters_) {
    out[name] = {config::RouteFor(config_, name), counters};
  }
  return out;
}

std::string StreamsJson(const StreamRouter& router) {
  nlohmann::json streams = nlohmann::json::array();
  for (const auto& [name, entry] : router.Snapshot()) {
    const auto& [route, counters] = entry;
    streams.push_back({{"stream", name},
                       {"target_table", route.target_table},
                       {"chunk_size", route.chunk_size},
                       {"schema_policy", config::ToString(route.schema_policy)},
                       {"commit", config::ToString(route.commit)},
                       {"compression", route.compression},
                       {"rows", counters.rows},
                       {"batches", counters.batches},
                       {"bytes", counters.bytes},
                       {"requests", counters.requests},
                       {"errors", counters.errors},
                       {"schema_mismatches", counters.schema_mismatches},
                       {"last_write", counters.last_write}});
  }
  return nlohmann::json{{"streams", streams}}.dump();
}

}  // namespace arrowport::ingest
