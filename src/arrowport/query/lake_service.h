#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "arrow/status.h"
#include "arrowport/common/logger.h"
#include "arrowport/config/config.h"
#include "arrowport/lake/lake_catalog.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/storage/files/lake_file_system.h"

namespace arrowport::storage {
class Database;
}

namespace arrowport::query {

/// \brief Makes every lake stream readable by SQL and keeps its table healthy: a DuckDB
/// view per lake stream (named as its target table) over the files of the latest
/// snapshot, replaced when this node commits and when a poll (lake.refresh_ms) finds
/// another node's commits; and, on its own thread, the table's upkeep (compaction,
/// checkpoints, vacuum). Thread-safe: store requests and a view's DDL run under no lock
/// that figures(), Layout() or another table's refresh take (a slow store holds up only
/// the callers that need its table's next snapshot).
class LakeService {
 public:
  LakeService(storage::Database* database, storage::LakeStores stores,
              lake::LakeCatalog* lakes, const config::RouteSource* routes, Logger* logger);
  ~LakeService();

  /// Publishes the stream's latest snapshot known to this process as its view (after a
  /// commit here: no store request).
  void Committed(const std::string& stream);
  /// Reads the stream's log from the store and publishes what is new.
  arrow::Status Refresh(const std::string& stream);

  /// Refreshes the lake streams whose table `text` (a query's SQL, or a table name)
  /// mentions; a store failing leaves the view at its last snapshot (and is logged), a
  /// table whose log is refused gets a view that fails every read with the reason (the
  /// caller's query, once the sandbox let it read the table). Returns the error of a
  /// catalog locked by another process (ErrorKind::kCatalogLocked), or of a refresh the
  /// calling thread's call ended: the caller's query fails with it.
  [[nodiscard]] arrow::Status RefreshReferenced(const std::string& text);

  /// Reading lake tables in parts (QueryPipeline::EnableLakeReads): the parts of the
  /// published snapshot of `table`, and the SQL of one part of a (recent) snapshot.
  std::optional<QueryRequest::LakePart> Layout(const std::string& table);
  arrow::Result<std::string> PartSql(const std::string& table,
                                     const QueryRequest::LakePart& part);
  /// How Layout() splits a snapshot: parts of about `part_bytes` of files each
  /// (lake.read_part_mb); `every_table`: a table of one part too (a cluster's tickets name
  /// their snapshot, so that any node reads the same rows). Call before serving.
  void SetReadParts(int64_t part_bytes, bool every_table) {
    part_bytes_ = part_bytes;
    every_table_in_parts_ = every_table;
  }

  /// What each published lake stream looks like (metrics, status).
  struct Figures {
    std::string stream;
    std::string table;  ///< the view's name
    std::string url;
    int64_t version = -1;
    int64_t files = 0;
    int64_t bytes = 0;
    int64_t commits = 0;     ///< made by this process
    int64_t lost_races = 0;  ///< put-if-absent attempts another writer won
    int64_t snapshot_copies = 0;  ///< whole snapshots this process copied
    int64_t snapshot_bytes = 0;   ///< memory of the snapshots kept (an estimate)
    /// kStateOk, kStateRefused (reads and writes fail with `error`) or kStateUnavailable
    /// (the last log read failed on the store: reads see the last snapshot).
    std::string state;
    std::string error;
    lake::UpkeepReport upkeep;  ///< the table's upkeep: failures, backoff, deferral
  };
  static constexpr const char* kStateOk = "ok";
  static constexpr const char* kStateRefused = "refused";
  static constexpr const char* kStateUnavailable = "unavailable";
  static constexpr const char* kStates[] = {kStateOk, kStateRefused, kStateUnavailable};
  std::vector<Figures> figures();

  /// The poll and upkeep thread.
  void Start();
  /// Starts no more refreshes or upkeep (the server is shutting down); returns at once.
  void RequestStop();
  /// RequestStop, then waits for the thread: a store request it is in ends when the
  /// stores' stop (S3Settings::stop) is cancelled.
  void Stop();

 private:
  struct Published {
    std::string url;
    std::string table;  ///< the view's name
    int64_t version = -2;
    std::shared_ptr<const lake::Snapshot> snapshot;
    std::shared_ptr<lake::LakeTable> lake;
    std::string store;  ///< its store's name under storage::kLakePathPrefix
    std::chrono::steady_clock::time_point polled{};
    /// When a query's refresh last failed: a failing store is not asked again at once.
    std::chrono::steady_clock::time_point refresh_failed{};
    /// Whether that refresh found the catalog locked (the next query then asks again
    /// at once: a lock is cheap to ask about, and may be gone).
    bool refresh_locked = false;
    std::string state = kStateOk;
    arrow::Status refusal;  ///< in state kStateRefused
    std::string chased;  ///< the table's state a read last refreshed for (BehindItsTable)
    /// Non-zero while the view's replacement after a commit of this server has failed
    /// (its call cancelled, the store failing): the upkeep thread tries again after it,
    /// from 1 s and doubling up to refresh_ms, till one succeeds (a view over the table,
    /// or a query that does not name it, serves the old snapshot till then).
    std::chrono::milliseconds behind_retry{0};
  };
  // Store requests (the log read here, the files' footers the view's DDL reads) run
  // under no lock of this service but the table's ReplacingLock. A read of the store
  // counts as a poll (RefreshReferenced) once the view shows it, not before: a query that
  // comes meanwhile refreshes too, which waits for the replacement under way.
  arrow::Status Publish(const std::string& stream, const config::StreamConfig& route,
                        const std::shared_ptr<lake::LakeTable>& table, bool read_store);
  // Whether the view shows `snapshot` of lake `url`, or a newer one of its log (the
  // caller holds mutex_).
  static bool Shows(const Published& published, const std::string& url,
                    const lake::Snapshot& snapshot);
  // The view shows less than its table knows, a state not refreshed for yet (the caller
  // holds mutex_).
  static bool BehindItsTable(Published& published, const std::string& url);
  // The table is refused (`why`): its view fails every read with the reason. Returns `why`.
  // The caller holds the table's ReplacingLock.
  arrow::Status PublishRefusal(const std::string& stream,
                               const config::StreamConfig& route,
                               const std::shared_ptr<lake::LakeTable>& table,
                               const arrow::Status& why);
  // Publish's last step: the snapshot's files registered, the view replaced over them
  // (the caller holds the table's ReplacingLock).
  arrow::Status ReplaceView(const std::string& stream, const config::StreamConfig& route,
                            const std::shared_ptr<lake::LakeTable>& table,
                            const std::shared_ptr<const lake::Snapshot>& snapshot,
                            bool read_store);
  // The name the store of lake `url` is read under (made on first use).
  std::string StoreName(const std::string& url);
  // Held while the views of lake `url` are replaced (its files registered, its DDL run):
  // one replacement per table at a time, none of the readers of mutex_ waiting for it.
  /// Waited for unless the thread's call is cancelled (its reason then): the holder may
  /// be reading every file's footer from a stalled store.
  arrow::Result<std::unique_lock<std::timed_mutex>> ReplacingLock(const std::string& url);
  // ---- the service's thread (lake_service_thread.cc) ----
  void Run();
  bool stopping();
  // One round: refresh what is due, upkeep what is due (`upkept`: last upkeep by URL).
  void RunOnce(std::map<std::string, std::chrono::steady_clock::time_point>& upkept);

  storage::Database* const database_;
  storage::LakeStores stores_;
  lake::LakeCatalog* const lakes_;
  const config::RouteSource* const router_;
  Logger* const logger_;
  // Guards published_, store_names_ and replacing_; held only to read or update them,
  // never across store I/O or DuckDB statements (scrapes and planning take it).
  std::mutex mutex_;
  std::map<std::string, Published> published_;
  std::map<std::string, std::string> store_names_;  // lake URL -> store name
  std::map<std::string, std::shared_ptr<std::timed_mutex>> replacing_;  // by lake URL
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  int64_t part_bytes_ = int64_t{4} << 20;
  bool every_table_in_parts_ = false;
  // Whether the routing has a lake stream (the thread's last look, or a commit since).
  std::atomic<bool> any_lake_{false};
  std::thread thread_;
};

}  // namespace arrowport::query
