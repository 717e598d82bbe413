#include "arrowport/ingest/stream_router.h"

#include <chrono>
#include <ctime>

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

void StreamRouter::RecordError(const std::string& stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_[stream].errors += 1;
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

}  // namespace arrowport::ingest
