#include "arrowport/lake/lake_maintenance.h"
#include "arrowport/lake/ducklake_log.h"
#include "arrow/util/key_value_metadata.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>

#include "arrow/array.h"
#include "arrow/compute/cast.h"
#include "arrow/record_batch.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/data_file_writer.h"
#include "arrowport/lake/lake_files.h"

namespace arrowport::lake {

namespace {


// A batch of an older file in the table's current file columns (columns added since
// are null, narrower types widened).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ToFileSchema(
    const arrow::RecordBatch& batch, const std::shared_ptr<arrow::Schema>& schema) {
  arrow::ArrayVector columns;
  for (const auto& field : schema->fields()) {
    auto column = batch.GetColumnByName(field->name());
    if (!column) {
      ARROW_ASSIGN_OR_RAISE(column, arrow::MakeArrayOfNull(field->type(), batch.num_rows()));
    } else if (!column->type()->Equals(*field->type(), false)) {
      ARROW_ASSIGN_OR_RAISE(column, arrow::compute::Cast(*column, field->type()));
    }
    columns.push_back(std::move(column));
  }
  return arrow::RecordBatch::Make(schema, batch.num_rows(), std::move(columns));
}

// A file whose columns carry field ids (DuckLake) is rewritten by name only when each
// name still has its id: a column renamed since would otherwise read as nulls.
arrow::Status CheckFieldIds(parquet::arrow::FileReader& reader, const arrow::Schema& table,
                            const std::string& path) {
  std::map<std::string, std::string> name_of_id;
  for (const auto& field : table.fields()) {
    if (field->metadata() && field->metadata()->Contains("PARQUET:field_id")) {
      name_of_id[field->metadata()->Get("PARQUET:field_id").ValueOr("")] = field->name();
    }
  }
  if (name_of_id.empty()) return arrow::Status::OK();
  std::shared_ptr<arrow::Schema> schema;
  ARROW_RETURN_NOT_OK(reader.GetSchema(&schema));
  for (const auto& field : schema->fields()) {
    if (!field->metadata() || !field->metadata()->Contains("PARQUET:field_id")) continue;
    auto it = name_of_id.find(field->metadata()->Get("PARQUET:field_id").ValueOr(""));
    if (it != name_of_id.end() && it->second != field->name()) {
      return arrow::Status::Invalid("the file ", path, " holds column '", field->name(),
                                    "', renamed '", it->second, "' since: not compacted");
    }
  }
  return arrow::Status::OK();
}

std::string FolderOf(const std::string& key) {
  const auto slash = key.rfind('/');
  return slash == std::string::npos ? std::string() : key.substr(0, slash + 1);
}

// Rewrites `group` (files of one partition) into new files; their adds are returned and
// their keys recorded in `written` (deleted by the caller if the commit does not land).
arrow::Result<std::vector<AddFile>> Rewrite(LakeTable* table,
                                            const std::vector<const AddFile*>& group,
                                            const std::shared_ptr<arrow::Schema>& file_schema,
                                            std::vector<std::string>* written) {
  const auto& config = table->config();
  const int64_t target = config.target_file_mb << 20;
  const std::string folder = FolderOf(KeyOfPath(group.front()->path));
  std::vector<AddFile> adds;
  std::unique_ptr<DataFileWriter> out;
  auto finish = [&]() -> arrow::Status {
    if (!out) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto add, out->Close());
    add.data_change = false;
    adds.push_back(std::move(add));
    out.reset();
    return arrow::Status::OK();
  };
  for (const AddFile* file : group) {
    ARROW_ASSIGN_OR_RAISE(auto input, table->store()->OpenRead(KeyOfPath(file->path)));
    ARROW_ASSIGN_OR_RAISE(auto reader,
                          parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
    ARROW_RETURN_NOT_OK(CheckFieldIds(*reader, *file_schema, file->path));
    ARROW_ASSIGN_OR_RAISE(auto batches, reader->GetRecordBatchReader());
    for (;;) {
      std::shared_ptr<arrow::RecordBatch> batch;
      ARROW_RETURN_NOT_OK(batches->ReadNext(&batch));
      if (!batch) break;
      ARROW_ASSIGN_OR_RAISE(batch, ToFileSchema(*batch, file_schema));
      if (!out) {
        ARROW_ASSIGN_OR_RAISE(
            out, DataFileWriter::Open(table->store(), NewDataFileKey(folder, config.compression),
                                      file_schema, config, file->partition_values, *batch));
        written->push_back(out->key());
      }
      ARROW_RETURN_NOT_OK(out->Write(*batch));
      if (out->bytes_written() >= target) ARROW_RETURN_NOT_OK(finish());
    }
  }
  ARROW_RETURN_NOT_OK(finish());
  return adds;
}

// Bytes a rewrite of `input` bytes of data files may write: the same rows in the same
// codec, with slack for files read into a wider schema and for the footer.
int64_t EstimatedOutput(int64_t input) { return input + input / 4 + (int64_t{64} << 10); }

std::string Mib(int64_t bytes) {
  return std::to_string((bytes + (1 << 19)) >> 20) + " MiB";
}

// The files of `group` one rewrite takes, smallest first: at most `target` bytes of them,
// and an estimated output within `allowance` (none: unbounded).
std::vector<const AddFile*> Select(std::vector<const AddFile*> group, int64_t target,
                                   std::optional<int64_t> allowance) {
  std::sort(group.begin(), group.end(), [](const AddFile* a, const AddFile* b) {
    return a->size != b->size ? a->size < b->size : a->path < b->path;
  });
  std::vector<const AddFile*> chosen;
  int64_t bytes = 0;
  for (const AddFile* file : group) {
    const int64_t next = bytes + file->size;
    if (next > target) break;
    if (allowance && EstimatedOutput(next) > *allowance) break;
    chosen.push_back(file);
    bytes = next;
  }
  return chosen;
}

// DuckLake: the first run of files whose row ids follow each other (in row id order), at
// most `target` bytes and within `allowance`: merged in that order, their rows keep their
// row ids (the specification's merge of adjacent files, without a row id column).
std::vector<const AddFile*> SelectRun(std::vector<const AddFile*> files, int64_t target,
                                      std::optional<int64_t> allowance) {
  std::sort(files.begin(), files.end(), [](const AddFile* a, const AddFile* b) {
    return a->row_id_start < b->row_id_start;
  });
  std::vector<const AddFile*> run;
  int64_t bytes = 0;
  for (const AddFile* file : files) {
    const bool follows = !run.empty() && run.back()->row_id_start >= 0 &&
                         run.back()->row_id_start + run.back()->num_records == file->row_id_start;
    const bool fits = bytes + file->size <= target &&
                      (!allowance || EstimatedOutput(bytes + file->size) <= *allowance);
    if (!run.empty() && follows && fits) {
      run.push_back(file);
      bytes += file->size;
      continue;
    }
    if (run.size() >= 2) break;
    run.clear();
    bytes = 0;
    if (file->row_id_start >= 0 && file->num_records >= 0) {
      run.push_back(file);
      bytes = file->size;
    }
  }
  if (run.size() < 2) run.clear();
  return run;
}

// The rewrite's files in place of those it `replaced`: an OPTIMIZE commit, planned
// again on every base it is tried on, and given up (nothing committed) when another
// writer removed one of them or changed the table's schema.
CommitResult CommitRewrite(LakeTable* table, const arrow::Schema& schema,
                           const std::set<std::string>& replaced,
                           const std::vector<AddFile>& adds) {
  return table->Commit([&](const Snapshot& base, const WonCommits&)
                           -> arrow::Result<std::optional<CommitActions>> {
    for (const auto& path : replaced) {
      if (base.files.count(path) == 0) return std::nullopt;  // someone else got there
    }
    if (!base.schema || !base.schema->Equals(schema, false)) return std::nullopt;
    CommitActions commit;
    commit.txn_id = NewUuid();
    commit.operation = "OPTIMIZE";
    commit.blind_append = false;
    commit.adds = adds;
    const int64_t now = NowMs();
    for (const auto& path : replaced) {
      const AddFile& old = base.files.at(path);
      commit.removes.push_back({path, now, false, old.partition_values, old.size});
    }
    return commit;
  });
}

// The files a rewrite that is not in the table wrote (an unfinished file was discarded
// by its writer already); what cannot be deleted now is vacuum's.
void DeleteWritten(LakeTable* table, const std::vector<std::string>& written) {
  for (const auto& key : written) {
    auto deleted = table->store()->Delete(key);
    if (!deleted.ok()) {
      table->Warn("compaction could not delete its unused file " + key + " (" +
                  deleted.message() + "): vacuum deletes it after retention_s");
    }
  }
}

// The small files of one partition a rewrite takes now (fewer than two: none, and
// `deferred` says why when free space stopped it).
std::vector<const AddFile*> ChooseRewrite(LakeTable* table,
                                          const std::vector<const AddFile*>& small_files,
                                          int64_t target, bool ducklake, std::string* deferred) {
  // A rewrite that fills the store fails, and leaves it full for every writer: where
  // the store says how much it can take, a rewrite takes at most half of it (asked
  // again for each partition: ingest goes on meanwhile).
  std::optional<int64_t> allowance;
  const std::optional<int64_t> available = table->store()->AvailableBytes();
  if (available) allowance = *available / 2;
  std::vector<const AddFile*> group = ducklake ? SelectRun(small_files, target, allowance)
                                               : Select(small_files, target, allowance);
  if (group.size() < 2 && ducklake) return {};  // no two with adjacent row ids
  if (group.size() < 2) {
    // Two small files always fit in target_file_mb: only space stops them.
    const auto smallest = Select(small_files, target, std::nullopt);
    const int64_t two = smallest[0]->size + smallest[1]->size;
    *deferred = "compaction waits for free space: merging the smallest files of a "
               "partition needs about " +
               Mib(EstimatedOutput(two)) + " and takes at most half of the " +
               Mib(available.value_or(0)) + " free in " + table->store()->url();
    return {};
  }
  // A rewrite failed lately (a store that cannot say how much room it has, out of it):
  // take less, but at least the two smallest files.
  if (const auto limit = table->upkeep().RewriteLimit()) {
    auto limited = ducklake ? SelectRun(small_files, std::min(target, *limit), allowance)
                            : Select(small_files, std::min(target, *limit), allowance);
    if (limited.size() < 2) limited.assign(group.begin(), group.begin() + 2);
    group = std::move(limited);
  }
  return group;
}

}  // namespace

arrow::Result<UpkeepResult> Compact(LakeTable* table) {
  UpkeepResult result;
  ARROW_RETURN_NOT_OK(table->CheckConditionalWrites());
  ARROW_ASSIGN_OR_RAISE(auto snapshot, table->Latest());
  if (snapshot->version < 0 || !snapshot->schema) return result;
  if (!snapshot->CheckWritable().ok()) return result;
  const int64_t target = table->config().target_file_mb << 20;
  const int64_t small = target / 2;
  const DuckLakeTableInfo* ducklake = snapshot->ducklake.get();
  if (ducklake && ((!snapshot->metadata.partition_columns.empty() &&
                    !ducklake->partition_values_complete) ||
                   !ducklake->deletes.empty())) {
    // Files of other partitionings (which to merge is not known), or rows another
    // writer deleted (a merged file would bring them back).
    return result;
  }
  if (auto* log = dynamic_cast<DuckLakeLog*>(table->log())) {
    if (!table->config().merge_small_files) return result;
    ARROW_ASSIGN_OR_RAISE(const bool only_ours, log->OnlyArrowportWrites());
    if (!only_ours) return result;  // another tool writes the lake: it merges its files
  }
  // Small files by partition (their values, whatever folders other writers chose).
  std::map<PartitionValues, std::vector<const AddFile*>> groups;
  for (const auto& [path, add] : snapshot->files) {
    if (add.size < small) groups[add.partition_values].push_back(&add);
  }
  // A DuckLake's files hold every column, with its field id.
  auto file_schema = ducklake ? WithFieldIds(*snapshot->schema, ducklake->column_ids)
                              : FileSchemaOf(*snapshot->schema,
                                             snapshot->metadata.partition_columns);
  std::string deferred;
  for (const auto& [values, small_files] : groups) {
    if (small_files.size() < 2) continue;
    std::vector<const AddFile*> group =
        ChooseRewrite(table, small_files, target, ducklake != nullptr, &deferred);
    if (group.size() < 2) continue;
    int64_t input_bytes = 0;
    for (const AddFile* file : group) input_bytes += file->size;
    std::vector<std::string> written;
    auto adds = Rewrite(table, group, file_schema, &written);
    if (!adds.ok()) table->upkeep().RewriteFailed(input_bytes);
    std::set<std::string> replaced;
    for (const AddFile* file : group) replaced.insert(file->path);
    CommitResult committed;
    if (!adds.ok()) {
      committed.status = adds.status();
    } else {
      committed = CommitRewrite(table, *snapshot->schema, replaced, *adds);
    }
    if (committed.outcome == CommitOutcome::kUnknown) {
      // It may have landed (its removes with it): its files stay, for vacuum to collect
      // once the log proves them unreferenced.
      return committed.status;
    }
    if (committed.outcome != CommitOutcome::kLanded) {
      // Nothing of it is in the table: what it wrote goes (an unfinished file was
      // discarded by its writer already), so a failure leaves the store as it was.
      DeleteWritten(table, written);
      if (committed.outcome == CommitOutcome::kNotLanded) return committed.status;
      continue;
    }
    table->upkeep().RewriteLanded(target);
    result.files_compacted += static_cast<int64_t>(group.size());
    result.files_written += static_cast<int64_t>(adds->size());
  }
  table->upkeep().SetCompactionDeferred(std::move(deferred));
  return result;
}

arrow::Result<int64_t> Vacuum(LakeTable* table) {
  ARROW_ASSIGN_OR_RAISE(auto snapshot, table->Latest());
  if (snapshot->version < 0) return 0;
  const int64_t horizon = NowMs() - table->config().retention_s * 1000;
  std::set<std::string> live;
  for (const auto& [path, add] : snapshot->files) live.insert(KeyOfPath(path));
  int64_t expired_files = 0;
  // A DuckLake keeps every file any of its snapshots names (time travel) until its
  // snapshots expire: only files no catalog row names are orphans.
  if (auto* ducklake = dynamic_cast<DuckLakeLog*>(table->log())) {
    ARROW_ASSIGN_OR_RAISE(auto expired,
                          ducklake->Expire(table->store(), table->config().retention_s * 1000));
    expired_files = expired.deleted;
    ARROW_ASSIGN_OR_RAISE(auto named, ducklake->AllFilePaths());
    live.insert(named.begin(), named.end());
  }
  std::set<std::string> recently_removed;
  for (const auto& [path, remove] : snapshot->tombstones) {
    if (remove.deletion_timestamp >= horizon) recently_removed.insert(KeyOfPath(path));
  }
  // Files of a commit whose outcome is unknown may yet be referenced: kept until the log
  // says.
  const std::set<std::string> unresolved = table->UnresolvedFiles(snapshot->version);
  ARROW_ASSIGN_OR_RAISE(auto objects, table->store()->List(""));
  int64_t deleted = expired_files;
  for (const auto& object : objects) {
    if (object.key.rfind("_delta_log/", 0) == 0) continue;
    // Only data files: Delta tables hold Parquet files (and deletion vectors, which a
    // table we write never has).
    if (object.key.size() < 8 || object.key.compare(object.key.size() - 8, 8, ".parquet") != 0) {
      continue;
    }
    if (live.count(object.key) > 0 || recently_removed.count(object.key) > 0 ||
        unresolved.count(object.key) > 0) {
      continue;
    }
    if (object.modified_ms >= horizon) continue;  // may be a write still in progress
    ARROW_RETURN_NOT_OK(table->store()->Delete(object.key));
    ++deleted;
  }
  return deleted;
}

namespace {

// The checkpoint step of a round: one when checkpoint_interval commits have passed.
arrow::Status CheckpointIfDue(LakeTable* table, UpkeepResult* result) {
  const auto& config = table->config();
  // A DuckLake's catalog is a database: nothing to checkpoint.
  auto* delta = dynamic_cast<DeltaLog*>(table->log());
  if (config.checkpoint_interval <= 0 || delta == nullptr) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto snapshot, table->Latest());
  int64_t last = -1;
  auto pointer = table->store()->Get("_delta_log/_last_checkpoint");
  if (pointer.ok()) {
    auto parsed = nlohmann::json::parse((*pointer)->ToString(), nullptr, false);
    if (parsed.is_object() && parsed.contains("version") &&
        parsed["version"].is_number_integer()) {
      last = parsed["version"].get<int64_t>();
    }
  }
  if (snapshot->version >= 0 && snapshot->version - last >= config.checkpoint_interval) {
    ARROW_RETURN_NOT_OK(delta->WriteCheckpoint(*snapshot));
    result->checkpointed = true;
  }
  return arrow::Status::OK();
}

// Every step of a round but the check that the table may be written.
arrow::Status UpkeepSteps(LakeTable* table, UpkeepResult* result) {
  // Cleanup first: it only frees space, which a full store needs before anything else
  // (and compaction's own replaced files are among what it frees).
  if (table->VacuumDue()) {
    ARROW_ASSIGN_OR_RAISE(result->files_vacuumed, Vacuum(table));
  }
  if (!table->upkeep().WritesDue(UpkeepHealth::Clock::now())) {
    result->backed_off = true;
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto compacted, Compact(table));
  result->files_compacted = compacted.files_compacted;
  result->files_written = compacted.files_written;
  return CheckpointIfDue(table, result);
}

}  // namespace

arrow::Status Upkeep(LakeTable* table, UpkeepResult* result) {
  UpkeepResult local;
  auto st = [&]() -> arrow::Status {
    // A table we may not write (deletion vectors, change data feed, actions we do not
    // know) is read only: no compaction, checkpoint or vacuum could keep its state whole.
    ARROW_ASSIGN_OR_RAISE(auto latest, table->Latest());
    if (latest->version < 0 || !latest->CheckWritable().ok()) return arrow::Status::OK();
    return UpkeepSteps(table, &local);
  }();
  if (!st.ok()) {
    table->upkeep().Failed(
        st, std::chrono::seconds(table->config().compaction_interval_s),
        UpkeepHealth::Clock::now());
  } else if (!local.backed_off) {
    table->upkeep().Succeeded();
  }
  if (result != nullptr) *result = local;
  return st;
}

}  // namespace arrowport::lake
