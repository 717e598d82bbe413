#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "arrowport/config/config.h"

namespace arrowport::ingest {

/// Live counters of one stream, as shown by `list_streams` / `arrowport streams`.
struct StreamCounters {
  int64_t rows = 0;
  int64_t batches = 0;
  int64_t bytes = 0;
  int64_t requests = 0;
  int64_t errors = 0;
  int64_t schema_mismatches = 0;
  std::string last_write;  ///< ISO-8601 UTC of the last successful write
};

/// \brief Routes stream names to table routing and keeps per-stream counters.
/// Thread-safe: one mutex guards the config snapshot and the counters.
class StreamRouter {
 public:
  explicit StreamRouter(config::Config config);

  config::StreamConfig Route(const std::string& stream) const;
  /// Replaces the routing for new requests (hot reload); counters survive.
  void Update(config::Config config);

  void RecordSuccess(const std::string& stream, int64_t rows, int64_t batches, int64_t bytes);
  void RecordError(const std::string& stream, bool schema_mismatch = false);

  /// Configured streams and any stream seen since start, with routing and counters.
  std::map<std::string, std::pair<config::StreamConfig, StreamCounters>> Snapshot() const;

 private:
  mutable std::mutex mutex_;  // guards config_ and counters_
  config::Config config_;
  std::map<std::string, StreamCounters> counters_;
};

/// `{"streams": [{stream, target_table, chunk_size, schema_policy, commit, compression,
/// rows, batches, bytes, requests, errors, last_write}, ...]}` for every protocol.
std::string StreamsJson(const StreamRouter& router);

}  // namespace arrowport::ingest
