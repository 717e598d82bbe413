#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <functional>
#include <string>

#include <nlohmann/json_fwd.hpp>

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
  std::string last_write;  ///< ISO-8601 UTC of the last commit
  int64_t active_requests = 0;  ///< requests writing to the stream now
  /// The commit mode of the latest request (a request may choose another than the
  /// configured one); "" before the first.
  std::string last_commit;
};

/// How many unconfigured streams a StreamRouter keeps counters for. Configured streams are
/// always kept; the rest are evicted least recently used first, so a client inventing
/// stream names cannot grow the router without bound.
struct StreamRouterLimits {
  size_t max_streams = 1024;  ///< unconfigured streams with at least one success
  /// Names that never succeeded (typos, scans) have their own smaller pool, so a flood of
  /// them cannot push out streams that carry data.
  size_t max_failing_streams = 256;
};

/// \brief Routes stream names to table routing and keeps per-stream counters.
/// Thread-safe: one mutex guards the config snapshot and the counters.
class StreamRouter : public config::RouteSource {
 public:
  explicit StreamRouter(config::Config config, StreamRouterLimits limits = {});

  config::StreamConfig Route(const std::string& stream) const override;
  std::map<std::string, config::StreamConfig> Routes() const override;
  /// Replaces the routing for new requests (hot reload); counters survive, and streams no
  /// longer configured become evictable.
  void Update(config::Config config);

  // The Record* calls are virtual: a test counts the calls of one request through them
  // (ingest_run_test.cc).

  /// A request begins writing to `stream` with `commit`: the stream is listed from now on
  /// (before, a long request was missing until it ended), with the request running.
  /// Each RecordStart is ended by one RecordSuccess, RecordError or RecordEnd (IngestRun
  /// makes them). Returns the name the stream is listed and counted under: a configured
  /// stream's own spelling (DuckDB's names ignore case), else the spelling it was first
  /// counted under.
  virtual std::string RecordStart(const std::string& stream, config::CommitMode commit);
  /// Rows a running request committed (per_batch: each batch as it commits), counted at
  /// once with the time of the last write.
  virtual void RecordCommitted(const std::string& stream, int64_t rows, int64_t batches,
                               int64_t bytes);
  /// A request succeeded; `rows`, `batches`, `bytes`: what it committed that
  /// RecordCommitted did not count yet.
  virtual void RecordSuccess(const std::string& stream, int64_t rows, int64_t batches,
                             int64_t bytes);
  /// A failed request; `rows`, `batches`, `bytes`: what it committed before it failed
  /// (per_batch) that RecordCommitted did not count yet, which stays in the table and
  /// counts as written.
  virtual void RecordError(const std::string& stream, bool schema_mismatch = false,
                           int64_t rows = 0, int64_t batches = 0, int64_t bytes = 0);
  /// A request ended without changing the counters (an idempotent retry of a committed
  /// request).
  virtual void RecordEnd(const std::string& stream);

  /// Configured streams and the recently used others, with routing and counters.
  std::map<std::string, std::pair<config::StreamConfig, StreamCounters>> Snapshot() const;

 private:
  enum class Pool { kConfigured, kWorking, kFailing };
  struct Entry {
    StreamCounters counters;
    Pool pool = Pool::kConfigured;
    std::list<std::string>::iterator position;  // in its pool's list; unused for kConfigured
  };

  // All with mutex_ held.
  Entry& Touch(const std::string& stream, bool success);
  void Place(const std::string& stream, Entry& entry, Pool pool);
  void Trim(Pool pool);
  std::list<std::string>* Recency(Pool pool);

  const StreamRouterLimits limits_;
  mutable std::mutex mutex_;  // guards config_, entries_, working_ and failing_
  config::Config config_;
  /// By name without case, as the configured streams: one entry per DuckDB table name.
  std::map<std::string, Entry, config::FoldedNameLess> entries_;
  std::list<std::string> working_;  // kWorking names, most recently used first
  std::list<std::string> failing_;  // kFailing names, most recently used first
};

/// `{"streams": [{stream, target_table, chunk_size, schema_policy, commit, compression,
/// rows, batches, bytes, requests, errors, last_write, active_requests, last_commit},
/// ...]}` for every protocol.
/// `with_transforms`: each stream's transform SQL too (admins: it names tables and logic).
/// `shown` (when set) picks the streams listed, by name and target table.
std::string StreamsJson(
    const StreamRouter& router, bool with_transforms = true,
    const std::function<bool(const std::string&, const std::string&)>& shown = nullptr);
/// The list in StreamsJson, as a JSON value (include <nlohmann/json.hpp> to use it).
nlohmann::json StreamList(const StreamRouter& router, bool with_transforms);

}  // namespace arrowport::ingest
