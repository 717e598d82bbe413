// DuckLakeLog's commit, its data files: the files a replace or merge ends, the new ones
// with their column statistics and partition values, the table's statistics widened by
// typed comparisons (specification 1.0, "Queries: Writing", "Statistics").

#include <algorithm>

#include "arrow/type.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/ducklake_commit.h"
#include "arrowport/lake/ducklake_sql.h"
#include "arrowport/lake/ducklake_types.h"
#include "arrowport/lake/lake_files.h"

namespace arrowport::lake {

namespace {

// A column's bounds over this commit's files and the table's before.
struct ColumnBounds {
  std::shared_ptr<arrow::DataType> type;
  bool any_values = false;
  bool unknown = false;  // a file with values stated none
  bool nulls = false;
  bool nan = false;
  std::shared_ptr<arrow::Scalar> min, max;
};

arrow::Status Widen(ColumnBounds* bounds, const std::optional<std::string>& min,
                    const std::optional<std::string>& max) {
  if (!min || !max) {
    bounds->unknown = true;
    return arrow::Status::OK();
  }
  auto lo = ParseDuckLakeValue(*min, bounds->type);
  auto hi = ParseDuckLakeValue(*max, bounds->type);
  if (!lo.ok() || !hi.ok()) {
    bounds->unknown = true;
    return arrow::Status::OK();
  }
  if (!bounds->min) {
    bounds->min = *lo;
    bounds->max = *hi;
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(int below, CompareScalars(**lo, *bounds->min));
  if (below < 0) bounds->min = *lo;
  ARROW_ASSIGN_OR_RAISE(int above, CompareScalars(**hi, *bounds->max));
  if (above > 0) bounds->max = *hi;
  return arrow::Status::OK();
}

bool IsFloat(const arrow::DataType& type) {
  return type.id() == arrow::Type::FLOAT || type.id() == arrow::Type::DOUBLE;
}


}  // namespace

std::vector<std::pair<std::string, std::string>> ParseChanges(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string current;
  bool quoted = false;
  auto flush = [&] {
    const size_t colon = current.find(':');
    if (colon != std::string::npos) out.emplace_back(current.substr(0, colon), current.substr(colon + 1));
    current.clear();
  };
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) {
      flush();
      continue;
    }
    current += c;
  }
  flush();
  return out;
}

namespace {

// One commit's data-file part, step by step (state shared by the steps).
class FilesStep {
 public:
  FilesStep(const CommitActions& commit, FilesCommit* files)
      : commit_(commit), files_(*files), catalog_(files->catalog),
        T_(std::to_string(files->table_id)),
        merge_(commit.operation == "OPTIMIZE"),
        postgres_(std::string(files->catalog->dialect()) == "postgres") {}

  arrow::Status Run() {
    ARROW_RETURN_NOT_OK(ReadTableStats());
    if (merge_) ARROW_RETURN_NOT_OK(CheckMerge());
    ARROW_RETURN_NOT_OK(EndRemovedFiles());
    for (const auto& [name, column] : files_.live) bounds_[name].type = column.type;
    for (const auto& add : commit_.adds) ARROW_RETURN_NOT_OK(AddDataFile(add));
    if (merge_) {
      files_.changes = {"merge_adjacent:" + T_};  // alone in its snapshot, as DuckDB does
    } else if (!commit_.adds.empty()) {
      files_.changes.push_back("inserted_into_table:" + T_);
    }
    ARROW_RETURN_NOT_OK(WriteTableStats());
    if (merge_) return arrow::Status::OK();  // the same rows: the table's bounds stand
    for (auto& [name, column_bounds] : bounds_) {
      ARROW_RETURN_NOT_OK(WidenColumnStats(name, column_bounds));
    }
    return arrow::Status::OK();
  }

 private:
  arrow::Status ReadTableStats() {
    ARROW_ASSIGN_OR_RAISE(stats_rows_,
                          catalog_->Query("SELECT record_count, next_row_id, file_size_bytes "
                                          "FROM ducklake_table_stats WHERE table_id = ?", {T_}));
    if (!stats_rows_.empty()) {
      ARROW_ASSIGN_OR_RAISE(record_count_, ToInt(stats_rows_[0][0]));
      ARROW_ASSIGN_OR_RAISE(next_row_id_, ToInt(stats_rows_[0][1]));
      ARROW_ASSIGN_OR_RAISE(file_bytes_, ToInt(stats_rows_[0][2]));
    }
    prior_rows_ = next_row_id_ > 0;
    return arrow::Status::OK();
  }

  // A merge of adjacent files: the files it replaces are live, hold no deleted rows, and
  // their row ids follow each other; the new files take them, in order.
  arrow::Status CheckMerge() {
    // Another tool's commits (DuckDB's deletes, updates, its own merges) interleave with
    // a merge in ways only that tool's rules know: a lake another tool writes is left to
    // it (ducklake_merge_adjacent_files).
    ARROW_ASSIGN_OR_RAISE(const bool only_ours, OnlyArrowportCommits(catalog_));
    if (!only_ours) {
      return arrow::Status::Invalid("another tool writes this DuckLake: its files are merged "
                                    "by that tool, not by Arrowport");
    }
    int64_t rows = 0;
    std::vector<std::pair<int64_t, int64_t>> ranges;  // row_id_start, record_count
    const std::string inlined_deletes = "ducklake_inlined_delete_" + T_;
    ARROW_ASSIGN_OR_RAISE(const bool inlined, TableExists(catalog_, inlined_deletes));
    for (const auto& remove : commit_.removes) {
      ARROW_ASSIGN_OR_RAISE(auto found,
                            catalog_->Query("SELECT row_id_start, record_count, data_file_id "
                                            "FROM ducklake_data_file WHERE table_id = ? AND "
                                            "path = ? AND end_snapshot IS NULL",
                                            {T_, KeyOfPath(remove.path)}));
      if (found.empty()) {
        return arrow::Status::AlreadyExists("a file this merge replaces was removed by "
                                            "another writer meanwhile");
      }
      ARROW_ASSIGN_OR_RAISE(
          auto deleted,
          catalog_->Query("SELECT count(*) FROM ducklake_delete_file WHERE data_file_id = ? "
                          "AND end_snapshot IS NULL", {found[0][2]}));
      bool any = !deleted.empty() && deleted[0][0].value_or("0") != "0";
      if (!any && inlined) {
        ARROW_ASSIGN_OR_RAISE(deleted, catalog_->Query("SELECT count(*) FROM " + inlined_deletes +
                                                       " WHERE file_id = ?", {found[0][2]}));
        any = !deleted.empty() && deleted[0][0].value_or("0") != "0";
      }
      if (any) {
        return arrow::Status::Invalid("rows of a file to merge were deleted by another "
                                      "writer: not merged");
      }
      ARROW_ASSIGN_OR_RAISE(const int64_t start, ToInt(found[0][0]));
      ARROW_ASSIGN_OR_RAISE(const int64_t count, ToInt(found[0][1]));
      ranges.emplace_back(start, count);
      rows += count;
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i) {
      if (ranges[i - 1].first + ranges[i - 1].second != ranges[i].first) {
        return arrow::Status::Invalid("the files a merge replaces are not adjacent in row ids");
      }
    }
    int64_t added = 0;
    for (const auto& add : commit_.adds) added += add.num_records;
    if (ranges.empty() || added != rows) {
      return arrow::Status::Invalid("a merge of ", rows, " rows wrote ", added);
    }
    merged_row_id_ = ranges.front().first;
    return arrow::Status::OK();
  }

  // A replace or a merge: the files it replaces end (a replace: with the rows DuckDB
  // deleted or keeps in the catalog).
  arrow::Status EndRemovedFiles() {
    for (const auto& remove : commit_.removes) {
      ARROW_ASSIGN_OR_RAISE(
          const int64_t ended,
          catalog_->Execute("UPDATE ducklake_data_file SET end_snapshot = ? WHERE table_id = ? "
                            "AND path = ? AND end_snapshot IS NULL",
                            {files_.S, T_, KeyOfPath(remove.path)}));
      if (ended != 1) {
        return arrow::Status::AlreadyExists("a file this commit replaces was removed by "
                                            "another writer meanwhile");
      }
      file_bytes_ -= std::max<int64_t>(remove.size, 0);
    }
    if (commit_.removes.empty() || merge_) return arrow::Status::OK();
    ARROW_RETURN_NOT_OK(catalog_->Execute("UPDATE ducklake_delete_file SET end_snapshot = ? "
                                          "WHERE table_id = ? AND end_snapshot IS NULL",
                                          {files_.S, T_}).status());
    DuckLakeTableInfo inlined;
    ARROW_RETURN_NOT_OK(ReadInlinedRows(catalog_, &inlined, T_, files_.L));
    if (!inlined.inlined.empty()) {
      return arrow::Status::NotImplemented(
          "the DuckLake table holds rows inlined in its catalog, which Arrowport does not "
          "replace yet (CALL ducklake_flush_inlined_data first)");
    }
    record_count_ = 0;
    files_.changes.push_back("deleted_from_table:" + T_);
    return arrow::Status::OK();
  }

  arrow::Status AddDataFile(const AddFile& add) {
    const std::string F = std::to_string(files_.next_file_id++);
    const int64_t partition_id = files_.partition_id;
    ARROW_RETURN_NOT_OK(catalog_->Execute(
        "INSERT INTO ducklake_data_file (data_file_id, table_id, begin_snapshot, end_snapshot, "
        "file_order, path, path_is_relative, file_format, record_count, file_size_bytes, "
        "footer_size, row_id_start, partition_id, encryption_key, mapping_id, partial_max) "
        "VALUES (?, ?, ?, NULL, NULL, ?, ?, 'parquet', ?, ?, ?, ?, ?, NULL, NULL, NULL)",
        {F, T_, files_.S, KeyOfPath(add.path), BoolParam(catalog_, true),
         std::to_string(add.num_records), std::to_string(add.size),
         add.footer_size >= 0 ? CatalogValue(std::to_string(add.footer_size)) : std::nullopt,
         std::to_string(merge_ ? merged_row_id_ : next_row_id_),
         partition_id >= 0 ? CatalogValue(std::to_string(partition_id)) : std::nullopt}).status());
    if (merge_) {
      merged_row_id_ += add.num_records;  // the same rows: counts and row ids stay
    } else {
      next_row_id_ += add.num_records;
      record_count_ += add.num_records;
    }
    file_bytes_ += add.size;
    std::map<std::string, const FileColumnStats*> by_column;
    for (const auto& stats : add.column_stats) {
      auto column = files_.live.find(stats.column);
      if (column == files_.live.end()) continue;
      by_column[stats.column] = &stats;
      const bool is_float = IsFloat(*column->second.type);
      ARROW_RETURN_NOT_OK(catalog_->Execute(
          "INSERT INTO ducklake_file_column_stats (data_file_id, table_id, column_id, "
          "column_size_bytes, value_count, null_count, min_value, max_value, contains_nan, "
          "extra_stats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
          {F, T_, std::to_string(column->second.id),
           stats.size_bytes >= 0 ? CatalogValue(std::to_string(stats.size_bytes)) : std::nullopt,
           std::to_string(stats.values), std::to_string(stats.nulls), stats.min, stats.max,
           is_float ? BoolParam(catalog_, stats.contains_nan) : std::nullopt}).status());
      ColumnBounds& column_bounds = bounds_[stats.column];
      column_bounds.nulls |= stats.nulls > 0;
      column_bounds.nan |= stats.contains_nan;
      if (stats.values > 0) {
        column_bounds.any_values = true;
        ARROW_RETURN_NOT_OK(Widen(&column_bounds, stats.min, stats.max));
      }
    }
    return AddPartitionValues(add, F, by_column);
  }

  // The value all of a file's rows share in each partition column, as its statistics
  // state it (a string's own text), NULL for null.
  arrow::Status AddPartitionValues(const AddFile& add, const std::string& F,
                                   const std::map<std::string, const FileColumnStats*>& stats) {
    const auto& partition_columns = files_.partition_columns;
    for (size_t key = 0; key < partition_columns.size(); ++key) {
      const std::string& column = partition_columns[key];
      CatalogValue value;
      auto stated = stats.find(column);
      auto raw = add.partition_values.find(column);
      if (stated != stats.end() && stated->second->values > 0) {
        const auto id = files_.live[column].type->id();
        const bool text = id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING;
        if (!text) value = stated->second->min;
        // A string's own text (Delta's map holds "" as null: a file of values is "").
        if (text) {
          value = raw != add.partition_values.end() && raw->second ? *raw->second
                                                                   : std::string();
        }
        if (!value) {
          return SchemaMismatch("the partition value of column '", column,
                                "' cannot be stated in the DuckLake catalog");
        }
      }
      if (value && postgres_ && value->find('\0') != std::string::npos) {
        return SchemaMismatch("partition column '", column, "' holds a value with a NUL byte, "
                              "which a PostgreSQL catalog cannot store; nothing was committed");
      }
      ARROW_RETURN_NOT_OK(catalog_->Execute(
          "INSERT INTO ducklake_file_partition_value (data_file_id, table_id, "
          "partition_key_index, partition_value) VALUES (?, ?, ?, ?)",
          {F, T_, std::to_string(key), value}).status());
    }
    return arrow::Status::OK();
  }

  arrow::Status WriteTableStats() {
    const std::vector<CatalogValue> values = {
        std::to_string(std::max<int64_t>(record_count_, 0)), std::to_string(next_row_id_),
        std::to_string(std::max<int64_t>(file_bytes_, 0)), T_};
    if (stats_rows_.empty()) {
      return catalog_->Execute("INSERT INTO ducklake_table_stats (record_count, next_row_id, "
                               "file_size_bytes, table_id) VALUES (?, ?, ?, ?)",
                               values).status();
    }
    return catalog_->Execute("UPDATE ducklake_table_stats SET record_count = ?, next_row_id = "
                             "?, file_size_bytes = ? WHERE table_id = ?",
                             values).status();
  }

  // The table's statistics of one column, widened by this commit's files (typed
  // comparisons); a replace starts them over.
  arrow::Status WidenColumnStats(const std::string& name, const ColumnBounds& fresh) {
    if (!fresh.any_values && !fresh.nulls) return arrow::Status::OK();
    const std::string C = std::to_string(files_.live[name].id);
    ARROW_ASSIGN_OR_RAISE(auto old,
                          catalog_->Query("SELECT contains_null, contains_nan, min_value, "
                                          "max_value FROM ducklake_table_column_stats WHERE "
                                          "table_id = ? AND column_id = ?",
                                          {T_, C}));
    ColumnBounds merged = fresh;
    if (!commit_.removes.empty()) {
      old.clear();
    } else if (old.empty() && prior_rows_) {
      // No statistics for a column the table's earlier rows lack (a column added since,
      // which they read as NULL or its default): they stay unknown, as DuckDB leaves them
      // (bounds of this commit's rows alone made DuckDB misread the default).
      return arrow::Status::OK();
    }
    if (!old.empty()) {
      merged.nulls |= IsTrue(old[0][0]);
      merged.nan |= IsTrue(old[0][1]);
      if (old[0][2] || old[0][3]) {
        merged.any_values = true;
        ARROW_RETURN_NOT_OK(Widen(&merged, old[0][2], old[0][3]));
      } else if (prior_rows_) {
        // No bounds stated before: none known (a NUL string), or no values yet; either
        // way unknown now unless this commit's are the only values.
        merged.unknown = true;
      }
    }
    CatalogValue min, max;
    if (merged.any_values && !merged.unknown && merged.min && merged.max) {
      min = DuckLakeValueText(*merged.min);
      max = DuckLakeValueText(*merged.max);
    }
    const std::vector<CatalogValue> values = {
        BoolParam(catalog_, merged.nulls),
        IsFloat(*merged.type) ? BoolParam(catalog_, merged.nan) : std::nullopt, min, max, T_, C};
    ARROW_ASSIGN_OR_RAISE(
        const int64_t updated,
        catalog_->Execute("UPDATE ducklake_table_column_stats SET contains_null = ?, "
                          "contains_nan = ?, min_value = ?, max_value = ? WHERE table_id = ? "
                          "AND column_id = ?",
                          values));
    if (updated > 0) return arrow::Status::OK();
    return catalog_->Execute("INSERT INTO ducklake_table_column_stats (contains_null, "
                             "contains_nan, min_value, max_value, table_id, column_id, "
                             "extra_stats) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                             values).status();
  }

  const CommitActions& commit_;
  FilesCommit& files_;
  CatalogConnection* const catalog_;
  const std::string T_;
  const bool merge_;
  const bool postgres_;
  std::vector<CatalogRow> stats_rows_;
  int64_t record_count_ = 0, next_row_id_ = 0, file_bytes_ = 0;
  bool prior_rows_ = false;  // the table held rows before this commit
  int64_t merged_row_id_ = -1;
  std::map<std::string, ColumnBounds> bounds_;
};

}  // namespace

arrow::Status CommitFiles(const CommitActions& commit, FilesCommit* files) {
  return FilesStep(commit, files).Run();
}

}  // namespace arrowport::lake
