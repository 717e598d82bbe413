#include "arrowport/lake/lake_append.h"
#include "arrowport/lake/ducklake_log.h"
#include "arrowport/lake/ducklake_types.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "arrow/record_batch.h"
#include "arrow/type.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/lake/delta_schema.h"
#include "arrowport/lake/lake_files.h"

namespace arrowport::lake {

namespace {

// Open files per request (one per partition written): bounds the memory of a request
// spreading over many partitions; the least recently written closes first.
constexpr size_t kMaxOpenFiles = 32;
// Partitions one request may write: a stream partitioned by a column of (nearly) unique
// values would otherwise make a file, and an add, per row.
constexpr size_t kMaxPartitionsPerRequest = 1000;
// What the cleanup of a cancelled request may take in all (see DeleteUncommitted).
constexpr std::chrono::seconds kCancelledCleanupTime{5};

// The protocol a table needs to hold timestamp_ntz columns: reader 3 / writer 7 with the
// feature, keeping every feature the table's protocol had or implied.
Protocol WithTimestampNtz(const Protocol& now) {
  auto add = [](std::vector<std::string>* list, const std::string& feature) {
    if (std::find(list->begin(), list->end(), feature) == list->end()) list->push_back(feature);
  };
  Protocol next = now;
  if (next.min_writer_version < 7) {
    // Legacy writer versions imply their features (2: appendOnly, invariants; 3:
    // checkConstraints; 4: changeDataFeed, generatedColumns).
    next.writer_features.clear();
    if (now.min_writer_version >= 2) {
      add(&next.writer_features, "appendOnly");
      add(&next.writer_features, "invariants");
    }
    if (now.min_writer_version >= 3) add(&next.writer_features, "checkConstraints");
    if (now.min_writer_version >= 4) {
      add(&next.writer_features, "changeDataFeed");
      add(&next.writer_features, "generatedColumns");
    }
    next.min_writer_version = 7;
  }
  if (next.min_reader_version < 3) {
    next.reader_features.clear();
    next.min_reader_version = 3;
  }
  add(&next.reader_features, "timestampNtz");
  add(&next.writer_features, "timestampNtz");
  return next;
}

bool SameProtocol(const Protocol& a, const Protocol& b) {
  return a.min_reader_version == b.min_reader_version &&
         a.min_writer_version == b.min_writer_version &&
         a.reader_features == b.reader_features && a.writer_features == b.writer_features;
}

// Adds `plan`'s new columns to the table schema `now` has (a concurrent writer changed
// it): the columns both have must agree.
arrow::Result<std::shared_ptr<arrow::Schema>> MergeSchema(const ConformPlan& plan,
                                                          const Snapshot& now) {
  if (now.metadata.partition_columns != plan.partition_columns) {
    return RetryableConflict("another writer changed the table's partitioning meanwhile");
  }
  ARROW_RETURN_NOT_OK(now.CheckShape());  // a log without metadata has no schema
  arrow::FieldVector fields = now.schema->fields();
  for (const auto& field : plan.table_schema->fields()) {
    const int index = now.schema->GetFieldIndex(field->name());
    if (index < 0) {
      fields.push_back(field);
    } else if (!now.schema->field(index)->type()->Equals(*field->type(), false)) {
      return RetryableConflict("another writer changed column '", field->name(),
                               "' meanwhile");
    }
  }
  return arrow::schema(std::move(fields));
}

}  // namespace

LakeAppend::LakeAppend(std::shared_ptr<LakeTable> table, AppendOptions options)
    : table_(std::move(table)), options_(std::move(options)) {}

LakeAppend::~LakeAppend() { DeleteUncommitted(); }

arrow::Result<int64_t> LakeAppend::Start(const arrow::Schema& input) {
  ARROW_RETURN_NOT_OK(table_->CheckConditionalWrites());
  ARROW_ASSIGN_OR_RAISE(auto base, table_->Latest());
  if (base->version >= 0) ARROW_RETURN_NOT_OK(base->CheckWritable());
  if (options_.create_only && base->version >= 0) {
    return arrow::Status::AlreadyExists("the ", table_->format(), " table at ",
                                        table_->store()->url(), " exists (mode create)");
  }
  if (options_.replace && base->append_only()) {
    return arrow::Status::Invalid("the Delta table at ", table_->store()->url(),
                                  " is append-only (delta.appendOnly): it cannot be replaced");
  }
  // A replaced Delta table takes the stream's schema and partitioning as a new table
  // would; a DuckLake table keeps its columns (their ids), losing only its rows.
  const Snapshot none;
  const bool ducklake = table_->config().format == config::LakeFormat::kDuckLake;
  ARROW_ASSIGN_OR_RAISE(plan_, PlanConform(input, options_.replace && !ducklake ? none : *base,
                                           table_->config().partition_by, options_.policy));
  if (ducklake) {
    // DuckLake files hold every column, each with its Parquet field id (the column_id).
    for (const auto& field : plan_.table_schema->fields()) {
      ARROW_RETURN_NOT_OK(DuckLakeTypeName(*field->type(), field->name()).status());
    }
    column_ids_ = PlannedColumnIds(*base, *plan_.table_schema);
    plan_.files_hold_partition_columns = true;
    plan_.file_schema = WithFieldIds(*plan_.table_schema, column_ids_);
  }
  started_ = true;
  if (!plan_.dropped.empty()) {
    std::string names;
    for (const auto& name : plan_.dropped) names += (names.empty() ? "" : ", ") + name;
    table_->Warn(std::string("ignore_extra: columns not in the ") + table_->format() + " table were dropped: " + names);
  }
  if (options_.request_id.empty()) return -1;
  return FindPrior(*base);
}

arrow::Result<int64_t> LakeAppend::FindPrior(const Snapshot& base) {
  const std::string app = app_id();
  const bool ducklake = base.ducklake != nullptr;
  const auto commit_name = [&](int64_t commit) {
    return std::string(ducklake ? "snapshot " : "commit ") + std::to_string(commit);
  };
  const std::string not_sealed =
      " carries request id '" + options_.request_id +
      "' but is not Arrowport's commit of it: its marker has no seal that verifies with "
      "this node's lake commit key (another writer wrote or copied it, it predates "
      "seals, or a node with another lake.commit_key_file made it)";
  auto sealed = base.sealed_txns.find(app);
  auto unsealed = base.unsealed_txns.find(app);
  if (unsealed != base.unsealed_txns.end()) {
    table_->Warn("the " + std::string(table_->format()) + " " +
                 commit_name(unsealed->second.commit) + " of " + table_->store()->url() +
                 not_sealed +
                 (sealed != base.sealed_txns.end()
                      ? "; answered from Arrowport's sealed " +
                            commit_name(sealed->second.commit) + " of it"
                      : "; the request is written"));
  }
  if (sealed != base.sealed_txns.end()) {
    prior_version_ = sealed->second.version;
    prior_counts_ = {sealed->second.rows, sealed->second.batches};
    return prior_version_;
  }
  const bool checkpointed =
      base.checkpoint_version >= 0 && (unsealed != base.unsealed_txns.end()
                                           ? unsealed->second.checkpointed
                                           : base.app_versions.count(app) != 0);
  if (!checkpointed) return -1;
  ARROW_ASSIGN_OR_RAISE(auto found, table_->CheckpointedSeal(app, base.checkpoint_version,
                                                             base.metadata.id));
  switch (found.found) {
    case CheckpointedTxn::Found::kSealed:
      prior_version_ = found.txn.version;
      prior_counts_ = {found.txn.rows, found.txn.batches};
      return prior_version_;
    case CheckpointedTxn::Found::kNotArrowports:
      if (found.unsealed >= 0) {
        table_->Warn("the Delta commit " + std::to_string(found.unsealed) + " of " +
                     table_->store()->url() + not_sealed + "; the request is written");
      }
      return -1;
    case CheckpointedTxn::Found::kUnknown:
      break;
  }
  return arrow::Status::AlreadyExists(
      "request id '", options_.request_id, "' is recorded as committed in the Delta "
      "checkpoint ", base.checkpoint_version, " of ", table_->store()->url(),
      ", but the commit files from there down to ", found.searched_down_to,
      " hold no commit of it sealed by Arrowport",
      found.unsealed >= 0 ? " (commit " + std::to_string(found.unsealed) + " holds an "
                            "unsealed one)" : std::string(),
      " and the older ones are gone or beyond the search: whether its rows are in the "
      "table cannot be told, so nothing is written; check the table, then send the rows "
      "that are missing with a new request id");
}

arrow::Status LakeAppend::Write(const arrow::RecordBatch& batch) {
  if (!started_) return arrow::Status::Invalid("LakeAppend::Write before Start");
  ++batches_since_commit_;
  rows_since_commit_ += batch.num_rows();
  if (batch.num_rows() == 0) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto conformed, Conform(plan_, batch));
  ARROW_ASSIGN_OR_RAISE(auto slices, SplitByPartition(plan_, conformed));
  const int64_t target = table_->config().target_file_mb << 20;
  for (auto& slice : slices) {
    partitions_seen_.insert(slice.folder);
    if (partitions_seen_.size() > kMaxPartitionsPerRequest) {
      return arrow::Status::Invalid(
          "one request may write at most ", kMaxPartitionsPerRequest, " partitions of ",
          table_->store()->url(), " (partition_by ",
          plan_.partition_columns.empty() ? "" : plan_.partition_columns.front(),
          "...): choose a coarser partition column; nothing was committed");
    }
    auto it = open_.find(slice.folder);
    if (it == open_.end()) {
      if (open_.size() >= kMaxOpenFiles) {
        auto oldest = open_.begin();
        for (auto o = open_.begin(); o != open_.end(); ++o) {
          if (last_write_[o->first] < last_write_[oldest->first]) oldest = o;
        }
        ARROW_RETURN_NOT_OK(CloseFile(oldest->first));
      }
      const config::LakeConfig& lake = table_->config();
      ARROW_ASSIGN_OR_RAISE(
          auto file, DataFileWriter::Open(table_->store(),
                                          NewDataFileKey(slice.folder, lake.compression),
                                          plan_.file_schema, lake, slice.values, *slice.rows));
      if (pending_keys_.empty()) first_file_ms_ = NowMs();
      pending_keys_.push_back(file->key());
      it = open_.emplace(slice.folder, std::move(file)).first;
    }
    ARROW_RETURN_NOT_OK(it->second->Write(*slice.rows));
    last_write_[slice.folder] = ++writes_;
    if (it->second->bytes_written() >= target) ARROW_RETURN_NOT_OK(CloseFile(slice.folder));
  }
  return arrow::Status::OK();
}

arrow::Status LakeAppend::CloseFile(std::string folder) {
  auto it = open_.find(folder);
  if (it == open_.end()) return arrow::Status::OK();
  auto file = std::move(it->second);
  open_.erase(it);
  last_write_.erase(folder);
  if (file->rows() == 0) {
    file->Abort();
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto add, file->Close());
  pending_.push_back(std::move(add));
  return arrow::Status::OK();
}

arrow::Result<std::optional<lake::CommitActions>> LakeAppend::Plan(const Snapshot& base,
                                                      const WonCommits& won,
                                                      int64_t txn_version) {
  if (!options_.request_id.empty() && txn_version >= 0) {
    // Committed meanwhile by a racing copy of this request (a sealed commit says so).
    auto it = base.sealed_txns.find(app_id());
    if (it != base.sealed_txns.end() && it->second.version >= txn_version) {
      return std::nullopt;
    }
  }
  if (base.version >= 0) ARROW_RETURN_NOT_OK(base.CheckWritable());
  lake::CommitActions commit;
  commit.txn_id = NewUuid();
  commit.adds = pending_;
  commit.column_ids = column_ids_;
  const bool replacing = options_.replace && !committed_once_;
  if (replacing) {
    for (const auto& [v, c] : won) {
      if (!c.adds.empty()) {
        return RetryableConflict("another writer added files while this request replaced "
                                 "the table");
      }
    }
    for (const auto& [path, add] : base.files) {
      RemoveFile remove;
      remove.path = path;
      remove.deletion_timestamp = NowMs();
      remove.data_change = true;
      remove.partition_values = add.partition_values;
      remove.size = add.size;
      commit.removes.push_back(std::move(remove));
    }
    commit.operation_parameters["mode"] = "Overwrite";
    commit.blind_append = false;
  } else {
    commit.operation_parameters["mode"] = "Append";
  }
  if (options_.create_only && base.version >= 0 && !committed_once_) {
    return arrow::Status::AlreadyExists("the ", table_->format(), " table at ",
                                        table_->store()->url(),
                                        " was created by another writer meanwhile");
  }
  // The table's metadata: new, replaced, or evolved by this request (merged with what
  // a concurrent writer may have changed).
  std::shared_ptr<arrow::Schema> schema;
  if (base.version < 0 || replacing) {
    schema = plan_.table_schema;
  } else if (!StillFits(plan_, base)) {
    ARROW_ASSIGN_OR_RAISE(schema, MergeSchema(plan_, base));
  }
  if (schema) {
    Metadata metadata = base.metadata;
    if (base.version < 0) {
      metadata.id = NewUuid();
      metadata.created_time = NowMs();
    }
    ARROW_ASSIGN_OR_RAISE(metadata.schema_string, ToDeltaSchemaString(*schema));
    metadata.partition_columns = plan_.partition_columns;
    commit.metadata = std::move(metadata);
    Protocol protocol = base.version < 0 ? Protocol{} : base.protocol;
    if (HasTimestampNtz(*schema)) protocol = WithTimestampNtz(protocol);
    if (base.version < 0 || !SameProtocol(protocol, base.protocol)) {
      commit.protocol = std::move(protocol);
    }
  }
  if (!options_.request_id.empty() && txn_version >= 0) {
    commit.txns.push_back({app_id(), txn_version, NowMs()});
  }
  commit.output_rows = rows_since_commit_;
  commit.output_batches = batches_since_commit_;
  if (commit.adds.empty() && commit.removes.empty() && !commit.metadata && commit.txns.empty()) {
    return std::nullopt;
  }
  return commit;
}

arrow::Status LakeAppend::CheckFilesStillThere() const {
  // Vacuum deletes uncommitted files older than retention_s: a request that ran that long
  // must not commit files another node's vacuum may have taken.
  const int64_t retention_ms = table_->config().retention_s * 1000;
  if (pending_.empty() || NowMs() - first_file_ms_ < retention_ms / 2) return arrow::Status::OK();
  for (const auto& add : pending_) {
    auto there = table_->store()->Head(KeyOfPath(add.path));
    if (!there.ok()) {
      return RetryableConflict("this request wrote for longer than half of the lake's "
                               "retention_s (", table_->config().retention_s, " s) and its file ",
                               add.path, " is gone (", there.status().message(),
                               "): nothing committed; raise retention_s");
    }
  }
  return arrow::Status::OK();
}

arrow::Result<int64_t> LakeAppend::Commit(int64_t txn_version) {
  while (!open_.empty()) ARROW_RETURN_NOT_OK(CloseFile(open_.begin()->first));
  ARROW_RETURN_NOT_OK(CheckFilesStillThere());
  bool duplicate = false;
  bool creates = false;  // planned on no table: the commit makes it
  const CommitResult committed = table_->Commit(
      [&](const Snapshot& base, const WonCommits& won) -> arrow::Result<std::optional<lake::CommitActions>> {
        ARROW_ASSIGN_OR_RAISE(auto commit, Plan(base, won, txn_version));
        duplicate = !commit.has_value() && !options_.request_id.empty() && txn_version >= 0;
        creates = base.version < 0 && commit.has_value();
        return commit;
      });
  if (committed.outcome == CommitOutcome::kUnknown) {
    // The commit may have landed, or may yet: its files must stay (vacuum removes them
    // after the retention period if the log never takes them).
    pending_keys_.clear();
    pending_.clear();
    if (options_.request_id.empty()) {
      return committed.status.WithMessage(committed.status.message(),
                                          " (this request has no request id: a retry may "
                                          "commit its rows twice)");
    }
    return committed.status;
  }
  // Not landed: the destructor deletes the files.
  if (committed.outcome == CommitOutcome::kNotLanded) return committed.status;
  const int64_t version = committed.version;  // -1: nothing to commit
  committed_once_ = true;
  if (duplicate) {
    pending_.clear();
    DeleteUncommitted();
    return -1;
  }
  created_table_ |= creates && version >= 0;
  files_committed_ += static_cast<int64_t>(pending_.size());
  rows_since_commit_ = batches_since_commit_ = 0;
  pending_.clear();
  pending_keys_.clear();
  return version;
}

void LakeAppend::DeleteUncommitted() {
  // A cancelled request (client gone, deadline passed) still deletes its files from a
  // store that answers, within a short while of its own: a store that does not answer
  // holds the call no longer (vacuum collects what is left). The server stopping ends
  // the cleanup at once (S3Settings::stop).
  std::optional<ThreadCancellationScope> cleanup;
  if (const auto call = ThreadCancellation::Current().cancellation;
      call != nullptr && call->cancelled() && (!open_.empty() || !pending_keys_.empty())) {
    cleanup.emplace(ThreadCancellation{
        nullptr, std::chrono::steady_clock::now() + kCancelledCleanupTime});
  }
  for (auto& [folder, file] : open_) file->Abort();
  open_.clear();
  for (size_t i = 0; i < pending_keys_.size(); ++i) {
    auto st = table_->store()->Delete(pending_keys_[i]);
    if (!st.ok()) {
      // The store is failing: each further delete would wait out its retries too. Vacuum
      // deletes files no commit added once they are older than retention_s.
      table_->Warn("could not delete the uncommitted file " + pending_keys_[i] + ": " +
                   st.ToString() + "; it and " +
                   std::to_string(pending_keys_.size() - i - 1) +
                   " more of the request's files are left to vacuum");
      break;
    }
  }
  pending_keys_.clear();
  pending_.clear();
}

}  // namespace arrowport::lake
