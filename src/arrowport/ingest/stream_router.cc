#include "arrowport/ingest/stream_router.h"

#include <algorithm>
#include <ctime>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrowport/common/iso_time.h"

namespace arrowport::ingest {

StreamRouter::StreamRouter(config::Config config, StreamRouterLimits limits)
    : limits_(limits), config_(std::move(config)) {}

config::StreamConfig StreamRouter::Route(const std::string& stream) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return config::RouteFor(config_, stream);
}

void StreamRouter::Update(config::Config config) {
  std::lock_guard<std::mutex> lock(mutex_);
  config_ = std::move(config);
  // Newly configured streams leave the eviction lists; streams dropped from the config
  // join them as most recently used (they were in use until now).
  std::vector<std::pair<std::string, std::string>> respelled;  // entry -> configured name
  for (auto& [name, entry] : entries_) {
    const auto configured = config_.streams.find(name);
    if (configured != config_.streams.end()) {
      if (entry.pool != Pool::kConfigured) Place(name, entry, Pool::kConfigured);
      if (configured->first != name) respelled.emplace_back(name, configured->first);
    } else if (entry.pool == Pool::kConfigured) {
      Place(name, entry, entry.counters.requests > 0 ? Pool::kWorking : Pool::kFailing);
    }
  }
  // Kept under the configured spelling, as Touch keeps them (in no recency list now).
  for (const auto& [name, spelling] : respelled) {
    auto node = entries_.extract(name);
    node.key() = spelling;
    entries_.insert(std::move(node));
  }
  Trim(Pool::kWorking);
  Trim(Pool::kFailing);
}

std::list<std::string>* StreamRouter::Recency(Pool pool) {
  if (pool == Pool::kWorking) return &working_;
  if (pool == Pool::kFailing) return &failing_;
  return nullptr;
}

void StreamRouter::Place(const std::string& stream, Entry& entry, Pool pool) {
  if (auto* from = Recency(entry.pool)) from->erase(entry.position);
  entry.pool = pool;
  if (auto* to = Recency(pool)) {
    to->push_front(stream);
    entry.position = to->begin();
  }
}

void StreamRouter::Trim(Pool pool) {
  auto* names = Recency(pool);
  const size_t cap =
      pool == Pool::kWorking ? limits_.max_streams : limits_.max_failing_streams;
  // At least one: the entry just touched sits at the front and must survive.
  while (names->size() > std::max<size_t>(cap, 1)) {
    entries_.erase(names->back());
    names->pop_back();
  }
}

StreamRouter::Entry& StreamRouter::Touch(const std::string& stream, bool success) {
  // A configured stream's entry under its configured spelling (listed so if a reload
  // drops it from the configuration).
  const auto configured = config_.streams.find(stream);
  auto [it, inserted] = entries_.try_emplace(
      configured != config_.streams.end() ? configured->first : stream);
  Entry& entry = it->second;
  Pool pool = entry.pool;
  if (inserted) {
    pool = configured != config_.streams.end() ? Pool::kConfigured
           : success                           ? Pool::kWorking
                                               : Pool::kFailing;
    entry.pool = Pool::kConfigured;  // not yet in any list
  } else if (pool == Pool::kFailing && success) {
    pool = Pool::kWorking;  // keeps its error history
  }
  if (pool != Pool::kConfigured) {
    Place(it->first, entry, pool);  // to the front: most recently used
    Trim(pool);
  }
  return entry;
}

namespace {

void Ended(StreamCounters& c) {
  // An entry evicted while its request ran came back without it.
  if (c.active_requests > 0) c.active_requests -= 1;
}

void AddWritten(StreamCounters& c, int64_t rows, int64_t batches, int64_t bytes) {
  c.rows += rows;
  c.batches += batches;
  c.bytes += bytes;
}

}  // namespace

std::string StreamRouter::RecordStart(const std::string& stream, config::CommitMode commit) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& c = Touch(stream, /*success=*/false).counters;
  c.active_requests += 1;
  c.last_commit = config::ToString(commit);
  // Touch keeps the entry under the configured spelling, else the first one counted.
  const auto entry = entries_.find(stream);
  return entry != entries_.end() ? entry->first : stream;
}

void StreamRouter::RecordCommitted(const std::string& stream, int64_t rows, int64_t batches,
                                   int64_t bytes) {
  if (batches <= 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto& c = Touch(stream, /*success=*/true).counters;
  AddWritten(c, rows, batches, bytes);
  c.last_write = IsoUtcTime(std::time(nullptr));
}

void StreamRouter::RecordSuccess(const std::string& stream, int64_t rows, int64_t batches,
                                 int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& c = Touch(stream, /*success=*/true).counters;
  AddWritten(c, rows, batches, bytes);
  c.requests += 1;
  c.last_write = IsoUtcTime(std::time(nullptr));
  Ended(c);
}

void StreamRouter::RecordError(const std::string& stream, bool schema_mismatch, int64_t rows,
                               int64_t batches, int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& c = Touch(stream, /*success=*/false).counters;
  c.errors += 1;
  if (schema_mismatch) c.schema_mismatches += 1;
  if (batches > 0) {
    AddWritten(c, rows, batches, bytes);
    c.last_write = IsoUtcTime(std::time(nullptr));
  }
  Ended(c);
}

void StreamRouter::RecordEnd(const std::string& stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  Ended(Touch(stream, /*success=*/true).counters);
}

std::map<std::string, config::StreamConfig> StreamRouter::Routes() const {
  std::map<std::string, config::StreamConfig> out;
  for (auto& [name, entry] : Snapshot()) out.emplace(name, std::move(entry.first));
  return out;
}

std::map<std::string, std::pair<config::StreamConfig, StreamCounters>>
StreamRouter::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, std::pair<config::StreamConfig, StreamCounters>> out;
  for (const auto& [name, _] : config_.streams) {
    out[name] = {config::RouteFor(config_, name), {}};
  }
  // A configured stream's entry is kept under its configured spelling (Touch, Update).
  for (const auto& [name, entry] : entries_) {
    out[name] = {config::RouteFor(config_, name), entry.counters};
  }
  return out;
}

std::string StreamsJson(
    const StreamRouter& router, bool with_transforms,
    const std::function<bool(const std::string&, const std::string&)>& shown) {
  nlohmann::json streams = StreamList(router, with_transforms);
  if (shown) {
    nlohmann::json kept = nlohmann::json::array();
    for (auto& stream : streams) {
      if (shown(stream["stream"].get<std::string>(),
                stream["target_table"].get<std::string>())) {
        kept.push_back(std::move(stream));
      }
    }
    streams = std::move(kept);
  }
  return nlohmann::json{{"streams", std::move(streams)}}.dump();
}

nlohmann::json StreamList(const StreamRouter& router, bool with_transforms) {
  nlohmann::json streams = nlohmann::json::array();
  for (const auto& [name, entry] : router.Snapshot()) {
    const auto& [route, counters] = entry;
    streams.push_back({{"stream", name},
                       {"target_table", route.target_table},
                       {"chunk_size", route.chunk_size},
                       {"schema_policy", config::ToString(route.schema_policy)},
                       {"commit", config::ToString(route.commit)},
                       {"compression", route.compression},
                       {"transform", with_transforms ? route.transform
                                                     : std::string(route.transform.empty()
                                                                       ? ""
                                                                       : "(set; admins see it)")},
                       {"rows", counters.rows},
                       {"batches", counters.batches},
                       {"bytes", counters.bytes},
                       {"requests", counters.requests},
                       {"errors", counters.errors},
                       {"schema_mismatches", counters.schema_mismatches},
                       {"last_write", counters.last_write},
                       {"active_requests", counters.active_requests},
                       {"last_commit", counters.last_commit}});
    if (route.sink == config::Sink::kLake) {
      // The table's URL (never credentials: those are the s3 section's).
      streams.back()["sink"] = "lake";
      streams.back()["lake_url"] =
          with_transforms ? route.lake.url : std::string("(set; admins see it)");
      streams.back()["partition_by"] = route.lake.partition_by;
    }
  }
  return streams;
}

}  // namespace arrowport::ingest
