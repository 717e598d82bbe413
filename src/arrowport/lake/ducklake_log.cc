// DuckLakeLog's reads: a table's snapshot from the catalog tables (specification 1.0,
// "Queries: Reading"), and what LakeTable asks of a log besides commits.

#include "arrowport/lake/ducklake_log.h"

#include <charconv>
#include <set>

#include <nlohmann/json.hpp>

#include "arrow/type.h"
#include "arrow/util/key_value_metadata.h"
#include "arrowport/lake/delta_schema.h"
#include "arrowport/lake/ducklake_sql.h"
#include "arrowport/lake/ducklake_types.h"

namespace arrowport::lake {


std::map<std::string, int64_t> PlannedColumnIds(const Snapshot& base,
                                                const arrow::Schema& table_schema) {
  std::map<std::string, int64_t> ids;
  int64_t next = base.ducklake ? base.ducklake->max_column_id + 1 : 1;
  if (base.version < 0) next = 1;
  for (const auto& field : table_schema.fields()) {
    if (base.version >= 0 && base.ducklake) {
      auto it = base.ducklake->column_ids.find(field->name());
      if (it != base.ducklake->column_ids.end()) {
        ids[field->name()] = it->second;
        continue;
      }
    }
    ids[field->name()] = next++;
  }
  return ids;
}

std::shared_ptr<arrow::Schema> WithFieldIds(const arrow::Schema& schema,
                                            const std::map<std::string, int64_t>& ids) {
  arrow::FieldVector fields;
  for (const auto& field : schema.fields()) {
    auto it = ids.find(field->name());
    if (it == ids.end()) {
      fields.push_back(field);
      continue;
    }
    fields.push_back(field->WithMetadata(
        arrow::key_value_metadata({"PARQUET:field_id"}, {std::to_string(it->second)})));
  }
  return arrow::schema(std::move(fields));
}

DuckLakeLog::DuckLakeLog(DuckLakeTableName name, std::shared_ptr<const SealKey> key)
    : name_(std::move(name)),
      key_(key ? std::move(key) : SealKey::Random()),
      reads_(name_.catalog),
      writes_(name_.catalog) {}
DuckLakeLog::~DuckLakeLog() = default;

arrow::Result<bool> DuckLakeLog::Initialized(CatalogConnection* catalog) {
  return TableExists(catalog, "ducklake_snapshot");
}

arrow::Status DuckLakeLog::ReadSnapshot(CatalogConnection* catalog, int64_t at,
                                        Snapshot* snapshot) {
  ARROW_ASSIGN_OR_RAISE(const bool initialized, Initialized(catalog));
  if (!initialized) {
    auto info = std::make_shared<DuckLakeTableInfo>();
    info->catalog_file = catalog->file_identity();
    snapshot->ducklake = std::move(info);
    return arrow::Status::OK();
  }
  return ReadDuckLakeSnapshot(catalog, name_, at, *key_, snapshot);
}

arrow::Status DuckLakeLog::Update(Snapshot* snapshot,
                                  std::vector<std::pair<int64_t, CommitActions>>* applied,
                                  int64_t up_to) {
  ARROW_ASSIGN_OR_RAISE(auto lease, reads_.Take());
  CatalogConnection* catalog = lease.get();
  const std::string file = catalog->file_identity();
  if (snapshot->ducklake && snapshot->ducklake->catalog_file != file) {
    // Another catalog file at the path (a restore, `mv` of another lake's catalog): its
    // snapshot ids start anew and none of the old file's state is its own (request ids
    // included), so it is read from nothing.
    *snapshot = Snapshot{};
  }
  // One read transaction: a commit of another writer (DuckDB flushing inlined rows into a
  // file) between two of the reads below would show its rows twice or not at all.
  ARROW_RETURN_NOT_OK(catalog->BeginRead());
  auto st = ReadChanges(catalog, snapshot, applied, up_to);
  if (st.ok()) st = catalog->Commit();
  if (!st.ok()) {
    catalog->Rollback();
    return st;
  }
  std::lock_guard<std::mutex> lock(read_file_mutex_);
  read_file_ = file;
  return st;
}

arrow::Status DuckLakeLog::ReadChanges(CatalogConnection* catalog, Snapshot* snapshot,
                                       std::vector<std::pair<int64_t, CommitActions>>* applied,
                                       int64_t up_to) {
  const int64_t from = snapshot->ducklake ? snapshot->ducklake->catalog_snapshot
                                          : snapshot->version;
  auto st = ReadSnapshot(catalog, up_to, snapshot);
  if (!st.ok() || applied == nullptr || !snapshot->ducklake) return st;
  // What happened since `from` (the conflict checks of a lost race, the search for a
  // commit whose answer was lost): each of our commits with its txn id, and the files
  // other commits added to this table.
  const int64_t to = snapshot->ducklake->catalog_snapshot;
  if (to <= from) return st;
  ARROW_ASSIGN_OR_RAISE(
      auto marks,
      catalog->Query("SELECT snapshot_id, commit_extra_info FROM ducklake_snapshot_changes "
                     "WHERE snapshot_id > ? AND snapshot_id <= ? ORDER BY snapshot_id",
                     {std::to_string(from), std::to_string(to)}));
  for (const auto& mark : marks) {
    ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(mark[0]));
    CommitActions commit;
    if (auto parsed = ParseMarker(mark[1].value_or(""))) {
      commit.txn_id = parsed->txn_id;
      if (!parsed->app_id.empty()) commit.txns.push_back({parsed->app_id, parsed->txn_version, 0});
    }
    applied->emplace_back(id, std::move(commit));
  }
  if (snapshot->ducklake->table_id >= 0) {
    ARROW_ASSIGN_OR_RAISE(
        auto added,
        catalog->Query("SELECT begin_snapshot, path FROM ducklake_data_file WHERE table_id = ? "
                       "AND begin_snapshot > ? AND begin_snapshot <= ? AND path_is_relative "
                       "IS NOT NULL",
                       {std::to_string(snapshot->ducklake->table_id), std::to_string(from),
                        std::to_string(to)}));
    for (const auto& row : added) {
      ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(row[0]));
      for (auto& [version, commit] : *applied) {
        if (version != id) continue;
        AddFile add;
        add.path = PathOfKey(row[1].value_or(""));
        commit.adds.push_back(std::move(add));
      }
    }
  }
  return st;
}

arrow::Result<bool> DuckLakeLog::HasNewer(int64_t version) {
  ARROW_ASSIGN_OR_RAISE(const int64_t newest, NewestVersion(version));
  return newest > version;
}

bool DuckLakeLog::CatalogReplaced(const CatalogConnection& catalog) {
  std::lock_guard<std::mutex> lock(read_file_mutex_);
  return !read_file_.empty() && read_file_ != catalog.file_identity();
}

arrow::Result<int64_t> DuckLakeLog::NewestVersion(int64_t version) {
  ARROW_ASSIGN_OR_RAISE(auto lease, reads_.Take());
  CatalogConnection* catalog = lease.get();
  if (CatalogReplaced(*catalog)) return version + 1;
  ARROW_ASSIGN_OR_RAISE(const bool initialized, Initialized(catalog));
  if (!initialized) return version;
  ARROW_ASSIGN_OR_RAISE(auto rows, catalog->Query("SELECT max(snapshot_id) FROM ducklake_snapshot"));
  if (rows.empty() || !rows[0][0]) return version;
  ARROW_ASSIGN_OR_RAISE(const int64_t newest, ToInt(rows[0][0]));
  return std::max(newest, version);
}

arrow::Status DuckLakeLog::Landed(Snapshot* snapshot, const CommitActions& commit,
                                  int64_t version) {
  return Update(snapshot, nullptr, version);
}

arrow::Result<CheckpointedTxn> DuckLakeLog::FindSealedTxn(const std::string& app_id,
                                                          int64_t checkpoint_version,
                                                          const std::string& table) {
  CheckpointedTxn none;
  none.found = CheckpointedTxn::Found::kNotArrowports;
  return none;
}

}  // namespace arrowport::lake
