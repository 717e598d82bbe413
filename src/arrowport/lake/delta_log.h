#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/lake/commit_seal.h"
#include "arrowport/objectstore/object_store.h"

namespace arrowport::lake {

/// Delta Lake log actions (protocol spec "Actions"): the fields Arrowport reads and writes.
using PartitionValues = std::map<std::string, std::optional<std::string>>;

struct DuckLakeTableInfo;  // ducklake_table_info.h

/// DuckLake: one column's statistics in one data file (ducklake_file_column_stats).
struct FileColumnStats {
  std::string column;
  int64_t values = 0;      ///< non-null values
  int64_t nulls = 0;
  int64_t size_bytes = -1; ///< compressed bytes in the file (-1: unknown)
  std::optional<std::string> min, max;  ///< DuckLake's text (DuckLakeValueText); unknown: none
  bool contains_nan = false;
};

struct AddFile {
  std::string path;  ///< relative URI (percent-encoded) of the data file
  PartitionValues partition_values;
  int64_t size = 0;
  int64_t modification_time = 0;
  bool data_change = true;
  std::string stats;  ///< JSON text (numRecords, minValues, maxValues, nullCount)
  int64_t num_records = -1;  ///< from stats; -1: unknown
  /// DuckLake tables only: each column's statistics, the Parquet footer's size, and the
  /// row id of the file's first row (read from the catalog).
  std::vector<FileColumnStats> column_stats;
  int64_t footer_size = -1;
  int64_t row_id_start = -1;
};

struct RemoveFile {
  std::string path;
  int64_t deletion_timestamp = 0;
  bool data_change = true;
  PartitionValues partition_values;
  int64_t size = -1;
};

struct Protocol {
  int min_reader_version = 1;
  int min_writer_version = 2;
  std::vector<std::string> reader_features;
  std::vector<std::string> writer_features;
};

struct Metadata {
  std::string id;
  std::string schema_string;
  std::vector<std::string> partition_columns;
  std::map<std::string, std::string> configuration;
  int64_t created_time = 0;
};

struct Txn {
  std::string app_id;
  int64_t version = 0;
  int64_t last_updated = 0;
};

/// The actions of one commit file.
struct CommitActions {
  std::optional<Protocol> protocol;
  std::optional<Metadata> metadata;
  std::vector<AddFile> adds;
  std::vector<RemoveFile> removes;
  std::vector<Txn> txns;
  std::string operation = "WRITE";            ///< commitInfo.operation
  std::map<std::string, std::string> operation_parameters;
  bool blind_append = true;
  /// commitInfo.txnId: a unique id that tells the writer its commit landed when the
  /// store's answer was lost.
  std::string txn_id;
  /// commitInfo.operationMetrics: the rows and batches a request's commit holds (-1:
  /// none), so a retried request id answers with the original counts.
  int64_t output_rows = -1;
  int64_t output_batches = -1;
  /// commitInfo.arrowportSeal: the seal of the commit's request id (commit_seal.h; empty:
  /// none). Set by TableLog::Seal on the commit planned.
  std::string seal;
  /// Action names this reader does not know (cdc, domainMetadata, ...): a writer that
  /// meets one refuses to write the table; readers go on when the protocol allows.
  std::vector<std::string> unknown_actions;
  /// DuckLake tables only: the Parquet field id (column_id) each column of the table's
  /// schema was written with; the commit fails when the catalog meanwhile gave a new
  /// column another id.
  std::map<std::string, int64_t> column_ids;
};

/// The newline-delimited JSON of a commit file (commitInfo first).
std::string SerializeCommit(const CommitActions& commit, int64_t timestamp_ms);
/// Parses a commit file. `version` names it in errors.
arrow::Result<CommitActions> ParseCommit(const std::string& text, int64_t version);

/// Path of an add/remove (a relative URI) -> the object's key; and back.
std::string KeyOfPath(const std::string& path);
std::string PathOfKey(const std::string& key);

/// A request id's newest commit that verifiably is Arrowport's (its seal verified).
struct SealedTxn {
  int64_t version = -1;  ///< the txn version (per_batch: the batch's index)
  int64_t rows = 0;      ///< the rows and batches that commit recorded
  int64_t batches = 0;
  int64_t commit = -1;   ///< the commit (Delta version, DuckLake snapshot) holding it
};

/// A request id's newest commit when it is not (verifiably) Arrowport's: its seal is
/// missing or does not verify with this node's key.
struct UnsealedTxn {
  int64_t commit = -1;
  /// The checkpoint the replay started from holds a txn of the request id too (so the
  /// commit files before it may hold Arrowport's commit of it).
  bool checkpointed = false;
};

/// \brief The state of a Delta table at one version: the replay of its log.
struct Snapshot {
  int64_t version = -1;  ///< -1: no table (no commit yet)
  Protocol protocol;
  Metadata metadata;
  std::shared_ptr<arrow::Schema> schema;  ///< of metadata.schema_string; null before v0
  std::map<std::string, AddFile> files;   ///< live data files by path
  std::map<std::string, RemoveFile> tombstones;  ///< removed files, for vacuum
  std::map<std::string, int64_t> app_versions;   ///< txn: appId -> version (any writer's)
  /// Arrowport's request ids (appId "arrowport:<id>") -> the newest commit of each whose
  /// seal verified, read after the checkpoint the replay started from (a checkpoint's
  /// txns are looked up in the commit files: TableLog::FindSealedTxn). Only these answer
  /// a retry as a duplicate.
  std::map<std::string, SealedTxn> sealed_txns;
  /// Arrowport's request ids whose newest commit is not sealed (a marker another writer
  /// wrote or copied, a commit from before seals, another key's): written, not answered.
  std::map<std::string, UnsealedTxn> unsealed_txns;
  int64_t checkpoint_version = -1;  ///< the checkpoint the replay started from (-1: none)
  std::vector<std::string> unknown_actions;      ///< seen anywhere in the log
  int64_t commits_since_checkpoint = 0;
  /// DuckLake tables only (null for Delta): the table's ids in its catalog.
  std::shared_ptr<const DuckLakeTableInfo> ducklake;

  /// Applies one commit on top of this snapshot (version becomes `version`); with a
  /// `key`, its request ids' seals are checked (sealed_txns, unsealed_txns) as seals of
  /// the table at `location` (SealedFacts::location).
  arrow::Status Apply(const CommitActions& commit, int64_t version,
                      const SealKey* key = nullptr, const std::string& location = {});
  /// Reading is refused (and why) when the protocol needs reader features we lack.
  arrow::Status CheckReadable() const;
  /// What reads and writes both need (CheckReadable but for a DuckLake's rows Arrowport
  /// cannot read, which leave appends alone).
  arrow::Status CheckShape() const;
  /// Writing is refused (and why) when the protocol or the log needs writer features we
  /// lack (column mapping, deletion vectors, CDF, constraints, generated/identity
  /// columns, actions we do not know).
  arrow::Status CheckWritable() const;
  bool append_only() const;
  int64_t num_records() const;  ///< sum of the files' numRecords (-1 if any unknown)
  /// Whether `other` was read from the same log: a DuckLake catalog replaced at its path
  /// is another log, whose versions start anew.
  bool SameLog(const Snapshot& other) const;
};

/// What the commit files before a checkpoint say of a request id the checkpoint holds.
struct CheckpointedTxn {
  enum class Found {
    kSealed,         ///< Arrowport's sealed commit of it: `txn`
    kNotArrowports,  ///< no commit of the log is Arrowport's sealed commit of it
    kUnknown,        ///< the search ended before it could tell (files gone, too many)
  };
  Found found = Found::kUnknown;
  SealedTxn txn;             ///< kSealed
  int64_t unsealed = -1;  ///< a commit holding an unsealed txn of it (-1: none)
  int64_t searched_down_to = -1;  ///< the oldest commit searched
};

/// \brief The log of one lake table, whatever its format: what LakeTable reads snapshots
/// from and commits to. Versions are the log's own (Delta's commit numbers, DuckLake's
/// snapshot ids). Thread-safe.
class TableLog {
 public:
  virtual ~TableLog() = default;
  /// Brings `snapshot` to the latest version (or `up_to`), appending the commits applied
  /// to `applied` when given (the conflict check of a lost race reads them).
  virtual arrow::Status Update(Snapshot* snapshot,
                               std::vector<std::pair<int64_t, CommitActions>>* applied = nullptr,
                               int64_t up_to = INT64_MAX) = 0;
  /// Whether a version after `version` exists.
  virtual arrow::Result<bool> HasNewer(int64_t version) = 0;
  /// The newest version after `version` (`version` when there is none).
  virtual arrow::Result<int64_t> NewestVersion(int64_t version) = 0;
  /// Commits `commit`, planned on version `version` - 1, unless another writer's commit
  /// since conflicts with it: arrow::StatusCode::AlreadyExists (a lost race: plan again
  /// on the newer snapshot). Returns the version it landed as (Delta: `version`, taken
  /// put-if-absent; DuckLake: the catalog's next snapshot, after appends that do not
  /// conflict).
  virtual arrow::Result<int64_t> CommitAt(int64_t version, const CommitActions& commit) = 0;
  /// After `commit` landed as `version`: `snapshot` (the one it was planned on) made the
  /// snapshot of that version.
  virtual arrow::Status Landed(Snapshot* snapshot, const CommitActions& commit,
                               int64_t version) = 0;
  /// Seals `commit`, planned on `base`, when it records a request id
  /// (CommitActions::seal; a DuckLake commit is sealed inside its catalog transaction,
  /// which knows its snapshot).
  virtual void Seal(const Snapshot& base, CommitActions* commit) const = 0;
  /// Arrowport's newest sealed commit of `app_id` at or before the checkpoint at
  /// `checkpoint_version` (which keeps txns, not seals) of the table `table` (its id).
  virtual arrow::Result<CheckpointedTxn> FindSealedTxn(const std::string& app_id,
                                                       int64_t checkpoint_version,
                                                       const std::string& table) = 0;
  /// "Delta" or "DuckLake" (messages).
  virtual const char* format() const = 0;
  /// Whether another writer's commit at the version a commit tried proves that commit can
  /// never land (Delta's put-if-absent); a DuckLake commit lands after whatever came first.
  virtual bool version_taken_once() const = 0;
};

/// \brief One Delta table's `_delta_log/` on an object store. Its commits of request ids
/// are sealed with `key` (null: a random key of its own, so that only this object's
/// commits verify).
class DeltaLog final : public TableLog {
 public:
  explicit DeltaLog(std::shared_ptr<objectstore::ObjectStore> store,
                    std::shared_ptr<const SealKey> key = nullptr);

  /// Brings `snapshot` to the latest version, reading only the commits after its
  /// version (from the last checkpoint when it has none). The commits applied are
  /// appended to `applied` when given (the conflict check of a lost race reads them).
  /// `up_to`: stop at that version (an older snapshot, for a reader that must see one).
  arrow::Status Update(Snapshot* snapshot,
                       std::vector<std::pair<int64_t, CommitActions>>* applied = nullptr,
                       int64_t up_to = INT64_MAX) override;

  /// Whether a commit after `version` exists (one listing).
  arrow::Result<bool> HasNewer(int64_t version) override;
  /// The newest commit version after `version` (`version` when there is none): one
  /// listing.
  arrow::Result<int64_t> NewestVersion(int64_t version) override;

  /// Creates commit file `version` only if absent: objectstore::IsAlreadyExists when
  /// another writer made it first.
  arrow::Status TryCommit(int64_t version, const CommitActions& commit);
  arrow::Result<int64_t> CommitAt(int64_t version, const CommitActions& commit) override {
    ARROW_RETURN_NOT_OK(TryCommit(version, commit));
    return version;
  }
  arrow::Status Landed(Snapshot* snapshot, const CommitActions& commit,
                       int64_t version) override {
    return snapshot->Apply(commit, version, key_.get(), location_);
  }
  /// The seal binds the request id's txn, the commit's counts and adds, the table's
  /// metaData.id and its URL as the store names it (nodes sharing the table must name it
  /// by the same URL).
  void Seal(const Snapshot& base, CommitActions* commit) const override;

  /// Looked for in the commit files from `checkpoint_version` down, at most
  /// kMaxCountSearch of them, stopping at the first one gone (expired with all before
  /// it); files over kMaxCountSearchBytes and unparsable ones are passed over (and the
  /// answer is then kUnknown unless a sealed commit is found).
  static constexpr int64_t kMaxCountSearch = 256;
  static constexpr int64_t kMaxCountSearchBytes = int64_t{16} << 20;
  arrow::Result<CheckpointedTxn> FindSealedTxn(const std::string& app_id,
                                               int64_t checkpoint_version,
                                               const std::string& table) override;

  /// Writes a Parquet checkpoint of `snapshot` and `_last_checkpoint`.
  arrow::Status WriteCheckpoint(const Snapshot& snapshot);

  static std::string CommitKey(int64_t version);
  const char* format() const override { return "Delta"; }
  bool version_taken_once() const override { return true; }
  objectstore::ObjectStore* store() const { return store_.get(); }

 private:
  arrow::Status UpdateUnsafe(Snapshot* snapshot,
                             std::vector<std::pair<int64_t, CommitActions>>* applied,
                             int64_t up_to);
  arrow::Status ReadCheckpoint(int64_t version, Snapshot* snapshot);

  std::shared_ptr<objectstore::ObjectStore> store_;
  const std::shared_ptr<const SealKey> key_;
  const std::string location_;  // store_->url(): SealedFacts::location
};

}  // namespace arrowport::lake
