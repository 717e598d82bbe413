#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/config/config.h"
#include "arrowport/lake/batch_conformer.h"
#include "arrowport/lake/data_file_writer.h"
#include "arrowport/lake/lake_table.h"

namespace arrowport::lake {

/// How one request writes a lake table.
struct AppendOptions {
  config::SchemaPolicy policy = config::SchemaPolicy::kStrict;
  bool create_only = false;  ///< mode create: the table must not exist yet
  bool replace = false;      ///< mode replace: the first commit removes every file
  /// The request id, recorded as a Delta `txn` (appId "arrowport:<id>") so a retry of a
  /// committed request (or batch) commits nothing twice; empty: none.
  std::string request_id;
};

/// \brief One request's write into a lake table: its batches go to Parquet files (one
/// open file per partition, rolled over at target_file_mb) and each Commit() publishes
/// the files written since the last in one Delta commit. Files never committed are
/// deleted when the write ends (or, if the store's answer to a commit was lost, left to
/// vacuum). Used by one thread.
class LakeAppend {
 public:
  LakeAppend(std::shared_ptr<LakeTable> table, AppendOptions options);
  ~LakeAppend();

  /// Plans `input` against the latest snapshot. Returns the version the request id has
  /// already committed in a commit sealed by Arrowport (-1: none): per_request retries
  /// compare it with 0, per_batch ones skip batches up to it. A commit of the request id
  /// whose seal does not verify is logged and passed over (the request is written); one
  /// a checkpoint holds that the commit files before it cannot explain is refused
  /// (AlreadyExists: whether its rows are in the table cannot be told).
  arrow::Result<int64_t> Start(const arrow::Schema& input);
  arrow::Status Write(const arrow::RecordBatch& batch);
  /// \brief Publishes what was written since the last commit (and a new table or schema)
  /// in one commit that also records the request id at `txn_version` (when set).
  /// Returns the Delta version, or -1 when the request id was already there (a retry:
  /// its files are deleted, nothing commits twice).
  arrow::Result<int64_t> Commit(int64_t txn_version);

  const ConformPlan& plan() const { return plan_; }
  /// Rows and batches the request id's sealed commit recorded (a per_request retry's
  /// answer), after Start found it committed.
  std::pair<int64_t, int64_t> PriorCounts() const { return prior_counts_; }
  int64_t files_committed() const { return files_committed_; }
  /// Whether a commit of this request made the table (Delta's version 0, DuckLake's
  /// snapshot with created_table).
  bool created_table() const { return created_table_; }

 private:
  arrow::Result<std::optional<lake::CommitActions>> Plan(const Snapshot& base, const WonCommits& won,
                                            int64_t txn_version);
  arrow::Status CloseFile(std::string folder);  // a copy: the map key it names goes
  /// Refuses to commit files a vacuum may have deleted meanwhile (a very long request).
  arrow::Status CheckFilesStillThere() const;
  void DeleteUncommitted();
  /// Start's search for the request id's sealed commit in `base` (and, for a txn of the
  /// checkpoint `base` was read from, in the commit files before it).
  arrow::Result<int64_t> FindPrior(const Snapshot& base);
  std::string app_id() const { return "arrowport:" + options_.request_id; }

  std::shared_ptr<LakeTable> table_;
  AppendOptions options_;
  ConformPlan plan_;
  bool started_ = false;
  bool committed_once_ = false;
  std::map<std::string, std::unique_ptr<DataFileWriter>> open_;  // by partition folder
  std::map<std::string, int64_t> last_write_;  // folder -> writes_ at its last write
  int64_t writes_ = 0;
  std::set<std::string> partitions_seen_;  // folders this request wrote
  int64_t first_file_ms_ = 0;  // when the first uncommitted file was opened
  std::vector<AddFile> pending_;  // closed, not committed
  std::vector<std::string> pending_keys_;
  int64_t files_committed_ = 0;
  bool created_table_ = false;
  int64_t prior_version_ = -1;  // the request id's txn version Start found (-1: none)
  std::pair<int64_t, int64_t> prior_counts_{0, 0};  // its sealed commit's rows, batches
  int64_t rows_since_commit_ = 0;
  std::map<std::string, int64_t> column_ids_;  // DuckLake: each column's field id
  int64_t batches_since_commit_ = 0;
};

}  // namespace arrowport::lake
