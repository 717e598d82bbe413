#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "arrow/result.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/config/config.h"
#include "arrowport/lake/delta_log.h"
#include "arrowport/lake/upkeep_health.h"
#include "arrowport/objectstore/object_store.h"

namespace arrowport::lake {

/// The commits other writers made after a commit's base snapshot (version, actions).
using WonCommits = std::vector<std::pair<int64_t, CommitActions>>;

/// How a commit ended (LakeTable::Commit).
enum class CommitOutcome {
  kLanded,   ///< in the log at CommitResult::version
  kNothing,  ///< the planner had nothing to commit
  /// Verified absent from the log, now and later: refused before its PUT, lost every
  /// race, or its PUT failed and another commit holds its version. What it references
  /// may be deleted.
  kNotLanded,
  /// May be in the log, or get there (the store's answer was lost and the log could not
  /// say): nothing it references may be deleted (vacuum collects what the log proves
  /// unreferenced). Its status carries ErrorKind::kOutcomeUnknown.
  kUnknown,
};

/// What LakeTable::Commit did.
struct CommitResult {
  CommitOutcome outcome = CommitOutcome::kNotLanded;
  int64_t version = -1;  ///< kLanded: the version committed
  arrow::Status status;  ///< kNotLanded, kUnknown: why
};

/// \brief One Delta table (a lake URL) as this process sees it: its store, its log and
/// the latest snapshot read. Shared by every request and stream writing or reading that
/// URL; thread-safe.
class LakeTable {
 public:
  /// `logger` (may be null) hears what fails in the background (deleting files); the
  /// snapshots kept are charged to `budget` (may be null: not charged).
  /// `log`: the table's log (null: the Delta log under the store's `_delta_log/`,
  /// sealing with a random key of its own: commit_seal.h).
  LakeTable(std::shared_ptr<objectstore::ObjectStore> store, config::LakeConfig config,
            Logger* logger = nullptr, std::shared_ptr<MemoryBudget> budget = nullptr,
            std::unique_ptr<TableLog> log = nullptr);

  /// \brief The latest snapshot: reads the commits made since the cached one (by any
  /// node). Single-flight: one caller reads the log, holding no lock anyone else needs;
  /// callers that come meanwhile wait for the next read that starts after they came (so
  /// nothing committed before a call is missed) and share its answer.
  arrow::Result<std::shared_ptr<const Snapshot>> Latest();
  /// The snapshot at `version` (an older one is rebuilt from the log; NotFound-like
  /// KeyError when the log no longer reaches back to it).
  arrow::Result<std::shared_ptr<const Snapshot>> At(int64_t version);
  /// \brief The snapshot at `version` for a ticket another node of the cluster sealed
  /// (design section 14): one kept, else read forward from the latest this process has
  /// (its added files checked as Latest() checks them) up to `version`, then kept. A
  /// version older than the latest this process has and no longer kept is refused as in
  /// At(): the reader asks for the table again.
  arrow::Result<std::shared_ptr<const Snapshot>> Reach(int64_t version);
  /// Every snapshot kept (the few latest, for readers given parts of one): what readers
  /// of this table may open.
  std::vector<std::shared_ptr<const Snapshot>> Kept() const;
  /// The snapshot read last, without a store request (null before the first read).
  std::shared_ptr<const Snapshot> Cached() const;
  /// Why the table is refused (OK when it is not): its log could not be loaded (a commit
  /// that does not parse, a gap, a bad schema) or failed validation (a path leaving the
  /// table, an added file missing from the store or linked from outside it). Latest(),
  /// and so every read and write, fails with it (ErrorKind::kTableRefused) until the log
  /// gets a newer commit that loads.
  arrow::Status refusal() const;

  /// Builds a commit from a base snapshot and the commits others won since the first
  /// base; std::nullopt: nothing to commit (e.g. the request was committed before).
  using Planner = std::function<arrow::Result<std::optional<CommitActions>>(const Snapshot& base,
                                                                     const WonCommits& won)>;
  /// \brief Commits put-if-absent at the version after the latest one; after a lost race
  /// re-reads the log and re-plans on the new snapshot, up to max_commit_attempts times
  /// (then kNotLanded with a RetryableConflict). A PUT that failed without a verdict is
  /// looked for in the log: found (landed), its version another writer's (a lost race),
  /// or neither known (kUnknown).
  CommitResult Commit(const Planner& plan);

  /// \brief OK when the store keeps put-if-absent (S3 `If-None-Match: *`) atomic, as
  /// every commit relies on. On S3 (unless s3.conditional_writes is `trust`), the first
  /// call probes it: two racing put-if-absent of one probe key under the table, then a
  /// third, of which exactly the first may succeed. Refused (Invalid, naming the store
  /// and s3.conditional_writes) when the store let two succeed; a store error is
  /// returned as it is and the next call probes again.
  arrow::Status CheckConditionalWrites();

  /// Arrowport's sealed commit of `app_id`, which the checkpoint at `checkpoint_version`
  /// a snapshot was read from holds a txn of (a checkpoint keeps txns, not seals or
  /// counts), in the table `table` (its id): looked up in the commit files once
  /// (TableLog::FindSealedTxn), then remembered, whatever the answer, so that retries
  /// cost no reads. Racing lookups of one request id share one search; others are not
  /// held up by it.
  arrow::Result<CheckpointedTxn> CheckpointedSeal(const std::string& app_id,
                                                  int64_t checkpoint_version,
                                                  const std::string& table);

  objectstore::ObjectStore* store() const { return store_.get(); }
  const std::shared_ptr<objectstore::ObjectStore>& shared_store() const { return store_; }
  const config::LakeConfig& config() const { return config_; }
  TableLog* log() { return log_.get(); }
  /// The Delta log (null for a DuckLake table).
  DeltaLog* delta_log() { return dynamic_cast<DeltaLog*>(log_.get()); }
  /// "Delta" or "DuckLake" (messages).
  const char* format() const { return log_->format(); }
  /// Logs a warning about this table (nothing without a logger).
  void Warn(const std::string& message) const;
  /// Commits this process made (for tests and metrics).
  int64_t commits() const;
  int64_t lost_races() const;
  /// Whole snapshots copied (a commit applied to a copy, a log read on top of one).
  int64_t snapshot_copies() const;
  /// The memory the snapshots kept hold (an estimate), and how much of it is charged to
  /// the budget (less when the budget had no room: older snapshots are dropped first).
  int64_t kept_bytes() const;
  int64_t charged_bytes() const;
  /// Whether a vacuum is due (at most every retention period, or 10 minutes if shorter,
  /// and at least a second apart); true marks it done now.
  bool VacuumDue();
  /// The table's upkeep record (failures, backoff of compaction and checkpoints).
  UpkeepHealth& upkeep() { return upkeep_; }
  /// \brief The data files (keys) of this process's commits whose outcome was unknown
  /// and may still land: those that tried a version after `latest_version`. Once the log
  /// holds a commit at the version one tried, it can never land (put-if-absent): its
  /// files are then referenced by the log or provably not, and are forgotten here.
  /// Vacuum keeps every key returned.
  std::set<std::string> UnresolvedFiles(int64_t latest_version);

 private:
  // Remembers the files of `commit`, whose PUT at `version` ended with no verdict.
  void RememberUnresolved(int64_t version, const CommitActions& commit);
  void Publish(std::shared_ptr<const Snapshot> snapshot);
  // Latest() without the single flight: the caller that reads the log.
  arrow::Result<std::shared_ptr<const Snapshot>> ReadLatest();
  arrow::Result<std::shared_ptr<const Snapshot>> LoadLatest();
  // `cached` (null: none) brought forward to the log's newest version, or `up_to`: its
  // added files checked, then published.
  arrow::Result<std::shared_ptr<const Snapshot>> ReadForward(
      const std::shared_ptr<const Snapshot>& cached, int64_t up_to);
  /// Fails when one of `files` (key, size the log gives or 0), files the log newly adds,
  /// is missing from the store, reaches outside it (a symbolic link), or is not of the
  /// size the log gives (reads trust that size: no HEAD per file and view).
  arrow::Status CheckAddedFiles(const std::vector<std::pair<std::string, int64_t>>& files);
  /// `st` of a log read: a refusal (remembered, as of the newest version listed after
  /// `from`) when the log is at fault, `st` when the store is.
  arrow::Status Refuse(const arrow::Status& st, int64_t from);
  /// The outcome of `commit`, whose PUT at `version` failed with `put_error` (no verdict);
  /// null when another writer's commit holds that version (a lost race: re-plan).
  std::optional<CommitResult> Resolve(const Snapshot& base, int64_t version,
                                      const CommitActions& commit,
                                      const arrow::Status& put_error);
  arrow::Status ProbeConditionalWrites();
  /// After a lost race for `version`: the log read on from `*base` (winners appended to
  /// `*won`, their files checked, the newer snapshot published). The commit's end when
  /// it has one (the log refused, or `commit` found landed); nullopt: plan again.
  std::optional<CommitResult> CatchUp(std::shared_ptr<const Snapshot>* base,
                                      WonCommits* won, int64_t version,
                                      const CommitActions& commit);
  /// A copy of `snapshot` to build a newer one on (counted: snapshot_copies()).
  std::shared_ptr<Snapshot> CopyOf(const Snapshot& snapshot);

  const std::shared_ptr<objectstore::ObjectStore> store_;
  const config::LakeConfig config_;
  const std::unique_ptr<TableLog> log_;
  Logger* const logger_;
  const std::shared_ptr<MemoryBudget> budget_;
  // Held no longer than to read or swap what it guards (never across store I/O): guards
  // latest_, recent_, the log read in flight and the counters.
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> latest_;
  struct Held {
    std::shared_ptr<const Snapshot> snapshot;
    int64_t bytes = 0;
    MemoryBudget::Reservation charge;  // empty when the budget had no room
    std::chrono::steady_clock::time_point kept_at{};
  };
  std::map<int64_t, Held> recent_;  // by version: the last few, and those of the last minute
  // A log read (Latest): its number in the order reads started and its shared answer.
  struct LogRead {
    int64_t number = 0;
    std::shared_future<arrow::Result<std::shared_ptr<const Snapshot>>> answer;
    // Set before the answer: the reading caller's call was cancelled, so a failure may be
    // that call's reason, not the store's (a waiter whose call goes on reads again).
    bool leader_cancelled = false;
  };
  std::shared_ptr<LogRead> reading_;    // in flight (null: none)
  std::shared_ptr<LogRead> last_read_;  // the last one finished
  int64_t reads_started_ = 0;
  int64_t commits_ = 0;
  int64_t lost_races_ = 0;
  int64_t snapshot_copies_ = 0;
  std::optional<std::chrono::steady_clock::time_point> last_vacuum_;
  UpkeepHealth upkeep_;
  // Keys of files of commits of unknown outcome -> the version each commit tried.
  std::map<std::string, int64_t> unresolved_;
  arrow::Status refusal_;     // why the log is refused (OK: it is not)
  int64_t refused_at_ = -1;   // the newest version listed then (-1: not known)
  // One probe at a time; once passed, never again for this table object.
  // (Timed: a caller whose call is cancelled stops waiting behind a stuck store request.)
  std::timed_mutex probe_mutex_;
  bool conditional_writes_checked_ = false;
  // CheckpointedSeal's answers (or lookups in flight) by (appId, checkpoint version,
  // table id: a table made anew at the same URL counts its versions again): racing
  // retries of one request share one search. Cleared when it reaches
  // kMaxRememberedSeals; an error is forgotten (the next call looks again).
  static constexpr size_t kMaxRememberedSeals = 4096;
  std::mutex seals_mutex_;  // guards checkpointed_seals_ (never held across I/O)
  struct SealSearch {
    std::shared_future<arrow::Result<CheckpointedTxn>> answer;
    // Set by the searcher before the answer (as LogRead's).
    mutable bool searcher_cancelled = false;
  };
  std::map<std::tuple<std::string, int64_t, std::string>, std::shared_ptr<const SealSearch>>
      checkpointed_seals_;
};

}  // namespace arrowport::lake
