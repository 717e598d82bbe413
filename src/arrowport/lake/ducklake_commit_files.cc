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

std::string QuotedName(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

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

arrow::Status CommitFiles(const CommitActions& commit, FilesCommit* files) {
  CatalogConnection* catalog = files->catalog;
  const std::string& S = files->S;
  const std::string& L = files->L;
  const int64_t table_id = files->table_id;
  auto& live = files->live;
  const int64_t partition_id = files->partition_id;
  const auto& partition_columns = files->partition_columns;
  auto& changes = files->changes;
  int64_t& next_file_id = files->next_file_id;
  const std::string T = std::to_string(table_id);
  ARROW_ASSIGN_OR_RAISE(auto stats_rows,
                        catalog->Query("SELECT record_count, next_row_id, file_size_bytes FROM "
                                       "ducklake_table_stats WHERE table_id = ?", {T}));
  int64_t record_count = 0, next_row_id = 0, file_bytes = 0;
  if (!stats_rows.empty()) {
    ARROW_ASSIGN_OR_RAISE(record_count, ToInt(stats_rows[0][0]));
    ARROW_ASSIGN_OR_RAISE(next_row_id, ToInt(stats_rows[0][1]));
    ARROW_ASSIGN_OR_RAISE(file_bytes, ToInt(stats_rows[0][2]));
  }
  // A merge of adjacent files: the new files take the old ones' row ids, in order.
  const bool merge = commit.operation == "OPTIMIZE";
  int64_t merged_row_id = -1;
  if (merge) {
    int64_t rows = 0;
    std::vector<std::pair<int64_t, int64_t>> ranges;  // row_id_start, record_count
    for (const auto& remove : commit.removes) {
      ARROW_ASSIGN_OR_RAISE(auto found,
                            catalog->Query("SELECT row_id_start, record_count FROM "
                                           "ducklake_data_file WHERE table_id = ? AND path = ? "
                                           "AND end_snapshot IS NULL",
                                           {std::to_string(table_id), KeyOfPath(remove.path)}));
      if (found.empty()) {
        return arrow::Status::AlreadyExists("a file this merge replaces was removed by "
                                            "another writer meanwhile");
      }
      ARROW_ASSIGN_OR_RAISE(const int64_t start, ToInt(found[0][0]));
      ARROW_ASSIGN_OR_RAISE(const int64_t count, ToInt(found[0][1]));
      ranges.emplace_back(start, count);
      rows += count;
    }
    // Rows deleted from the table (delete files, deletions of inlined file rows) would
    // come back in a merged file: such a table is not merged.
    ARROW_ASSIGN_OR_RAISE(auto deletes,
                          catalog->Query("SELECT changes_made, commit_extra_info FROM "
                                         "ducklake_snapshot_changes WHERE changes_made LIKE "
                                         "'%delete%'"));
    for (const auto& row : deletes) {
      // Arrowport's own (a replace) end whole files, never rows of a live one.
      if (ParseMarker(row[1].value_or(""))) continue;
      for (const auto& [kind, value] : ParseChanges(row[0].value_or(""))) {
        if ((kind == "deleted_from_table" || kind == "inlined_delete") &&
            value == std::to_string(table_id)) {
          return arrow::Status::Invalid("rows were deleted from the DuckLake table: its files "
                                        "are not merged");
        }
      }
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i) {
      if (ranges[i - 1].first + ranges[i - 1].second != ranges[i].first) {
        return arrow::Status::Invalid("the files a merge replaces are not adjacent in row ids");
      }
    }
    int64_t added = 0;
    for (const auto& add : commit.adds) added += add.num_records;
    if (ranges.empty() || added != rows) {
      return arrow::Status::Invalid("a merge of ", rows, " rows wrote ", added);
    }
    merged_row_id = ranges.front().first;
  }
  // A replace: every file of the plan's snapshot goes (and rows DuckDB deleted or inlined).
  if (!commit.removes.empty()) {
    for (const auto& remove : commit.removes) {
      ARROW_ASSIGN_OR_RAISE(
          const int64_t ended,
          catalog->Execute("UPDATE ducklake_data_file SET end_snapshot = ? WHERE table_id = ? "
                           "AND path = ? AND end_snapshot IS NULL",
                           {S, T, KeyOfPath(remove.path)}));
      if (ended != 1) {
        return arrow::Status::AlreadyExists("a file this commit replaces was removed by "
                                            "another writer meanwhile");
      }
      file_bytes -= std::max<int64_t>(remove.size, 0);
    }
  }
  if (!commit.removes.empty() && !merge) {
    ARROW_RETURN_NOT_OK(catalog->Execute("UPDATE ducklake_delete_file SET end_snapshot = ? WHERE "
                                         "table_id = ? AND end_snapshot IS NULL",
                                         {S, T}).status());
    DuckLakeTableInfo inlined;
    ARROW_RETURN_NOT_OK(ReadInlinedRows(catalog, &inlined, T, L));
    if (!inlined.inlined.empty()) {
      return arrow::Status::NotImplemented(
          "the DuckLake table holds rows inlined in its catalog, which Arrowport does not "
          "replace yet (CALL ducklake_flush_inlined_data first)");
    }
    record_count = 0;
    changes.push_back("deleted_from_table:" + T);
  }
  // The data files.
  std::map<std::string, ColumnBounds> bounds;
  for (const auto& [name, column] : live) bounds[name].type = column.type;
  const bool postgres = std::string(catalog->dialect()) == "postgres";
  for (const auto& add : commit.adds) {
    const int64_t file_id = next_file_id++;
    const std::string F = std::to_string(file_id);
    ARROW_RETURN_NOT_OK(catalog->Execute(
        "INSERT INTO ducklake_data_file (data_file_id, table_id, begin_snapshot, end_snapshot, "
        "file_order, path, path_is_relative, file_format, record_count, file_size_bytes, "
        "footer_size, row_id_start, partition_id, encryption_key, mapping_id, partial_max) "
        "VALUES (?, ?, ?, NULL, NULL, ?, ?, 'parquet', ?, ?, ?, ?, ?, NULL, NULL, NULL)",
        {F, T, S, KeyOfPath(add.path), BoolParam(catalog, true), std::to_string(add.num_records),
         std::to_string(add.size),
         add.footer_size >= 0 ? CatalogValue(std::to_string(add.footer_size)) : std::nullopt,
         std::to_string(merge ? merged_row_id : next_row_id),
         partition_id >= 0 ? CatalogValue(std::to_string(partition_id)) : std::nullopt}).status());
    if (merge) {
      merged_row_id += add.num_records;  // the same rows: counts and row ids stay
    } else {
      next_row_id += add.num_records;
      record_count += add.num_records;
    }
    file_bytes += add.size;
    std::map<std::string, const FileColumnStats*> by_column;
    for (const auto& stats : add.column_stats) {
      auto column = live.find(stats.column);
      if (column == live.end()) continue;
      by_column[stats.column] = &stats;
      const bool is_float = IsFloat(*column->second.type);
      ARROW_RETURN_NOT_OK(catalog->Execute(
          "INSERT INTO ducklake_file_column_stats (data_file_id, table_id, column_id, "
          "column_size_bytes, value_count, null_count, min_value, max_value, contains_nan, "
          "extra_stats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
          {F, T, std::to_string(column->second.id),
           stats.size_bytes >= 0 ? CatalogValue(std::to_string(stats.size_bytes)) : std::nullopt,
           std::to_string(stats.values), std::to_string(stats.nulls), stats.min, stats.max,
           is_float ? BoolParam(catalog, stats.contains_nan) : std::nullopt}).status());
      ColumnBounds& column_bounds = bounds[stats.column];
      column_bounds.nulls |= stats.nulls > 0;
      column_bounds.nan |= stats.contains_nan;
      if (stats.values > 0) {
        column_bounds.any_values = true;
        ARROW_RETURN_NOT_OK(Widen(&column_bounds, stats.min, stats.max));
      }
    }
    // Its partition values: the value all its rows share, as its statistics state it
    // (a string's own text when the statistics cannot hold it), NULL for null.
    for (size_t key = 0; key < partition_columns.size(); ++key) {
      const std::string& column = partition_columns[key];
      CatalogValue value;
      auto stats = by_column.find(column);
      auto raw = add.partition_values.find(column);
      if (stats != by_column.end() && stats->second->values > 0) {
        const auto id = live[column].type->id();
        const bool text = id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING;
        if (!text) value = stats->second->min;
        // A string's own text (Delta's map holds "" as null: a file of values is "").
        if (text) {
          value = raw != add.partition_values.end() && raw->second ? *raw->second
                                                                   : std::string();
        }
        if (!value) {
          return arrow::Status::Invalid("the partition value of column '", column,
                                        "' cannot be stated in the DuckLake catalog");
        }
      }
      if (value && postgres && value->find('\0') != std::string::npos) {
        return SchemaMismatch("partition column '", column, "' holds a value with a NUL byte, "
                              "which a PostgreSQL catalog cannot store; nothing was committed");
      }
      ARROW_RETURN_NOT_OK(catalog->Execute(
          "INSERT INTO ducklake_file_partition_value (data_file_id, table_id, "
          "partition_key_index, partition_value) VALUES (?, ?, ?, ?)",
          {F, T, std::to_string(key), value}).status());
    }
  }
  if (merge) {
    changes = {"merge_adjacent:" + T};  // alone in its snapshot, as DuckDB writes it
  } else if (!commit.adds.empty()) {
    changes.push_back("inserted_into_table:" + T);
  }
  // The table's statistics, widened by this commit's files (typed comparisons).
  if (stats_rows.empty()) {
    ARROW_RETURN_NOT_OK(catalog->Execute(
        "INSERT INTO ducklake_table_stats (table_id, record_count, next_row_id, "
        "file_size_bytes) VALUES (?, ?, ?, ?)",
        {T, std::to_string(record_count), std::to_string(next_row_id),
         std::to_string(file_bytes)}).status());
  } else {
    ARROW_RETURN_NOT_OK(catalog->Execute(
        "UPDATE ducklake_table_stats SET record_count = ?, next_row_id = ?, file_size_bytes = ? "
        "WHERE table_id = ?",
        {std::to_string(std::max<int64_t>(record_count, 0)), std::to_string(next_row_id),
         std::to_string(std::max<int64_t>(file_bytes, 0)), T}).status());
  }
  for (auto& [name, column_bounds] : bounds) {
    if (merge) break;  // the same rows: the table's bounds stand
    if (!column_bounds.any_values && !column_bounds.nulls) continue;
    const std::string C = std::to_string(live[name].id);
    const bool is_float = IsFloat(*column_bounds.type);
    ARROW_ASSIGN_OR_RAISE(auto old,
                          catalog->Query("SELECT contains_null, contains_nan, min_value, "
                                         "max_value FROM ducklake_table_column_stats WHERE "
                                         "table_id = ? AND column_id = ?",
                                         {T, C}));
    ColumnBounds merged = column_bounds;
    if (!old.empty() && !commit.removes.empty()) old.clear();  // a replace starts over
    if (!old.empty()) {
      merged.nulls |= IsTrue(old[0][0]);
      merged.nan |= IsTrue(old[0][1]);
      if (old[0][2] || old[0][3]) {
        ARROW_RETURN_NOT_OK(Widen(&merged, old[0][2], old[0][3]));
      } else {
        // No bounds stated before: none known (a NUL string), or no values yet.
        ARROW_ASSIGN_OR_RAISE(auto had, catalog->Query(
                                            "SELECT count(*) FROM ducklake_file_column_stats "
                                            "WHERE table_id = ? AND column_id = ? AND "
                                            "value_count > 0 AND data_file_id < ?",
                                            {T, C, std::to_string(next_file_id -
                                                                  commit.adds.size())}));
        if (had.empty() || had[0][0].value_or("0") != "0") merged.unknown = true;
      }
    }
    CatalogValue min, max;
    if (merged.any_values && !merged.unknown && merged.min && merged.max) {
      min = DuckLakeValueText(*merged.min);
      max = DuckLakeValueText(*merged.max);
    }
    const std::vector<CatalogValue> values = {
        BoolParam(catalog, merged.nulls),
        is_float ? BoolParam(catalog, merged.nan) : std::nullopt, min, max, T, C};
    ARROW_ASSIGN_OR_RAISE(
        const int64_t updated,
        catalog->Execute("UPDATE ducklake_table_column_stats SET contains_null = ?, "
                         "contains_nan = ?, min_value = ?, max_value = ? WHERE table_id = ? "
                         "AND column_id = ?",
                         values));
    if (updated == 0) {
      ARROW_RETURN_NOT_OK(catalog->Execute(
          "INSERT INTO ducklake_table_column_stats (contains_null, contains_nan, min_value, "
          "max_value, table_id, column_id, extra_stats) VALUES (?, ?, ?, ?, ?, ?, NULL)",
          values).status());
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::lake
