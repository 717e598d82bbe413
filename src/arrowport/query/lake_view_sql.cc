#include "arrowport/query/lake_view_sql.h"

#include <algorithm>
#include <map>
#include <set>

#include "arrow/type.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/text_util.h"
#include "arrowport/lake/delta_schema.h"
#include "arrowport/lake/ducklake_log.h"

namespace arrowport::query {

namespace {

// A value of the lake's metadata (a partition value, a row inlined in a DuckLake catalog,
// a default) is never SQL text: it is read back by the number `stores` gave it.
arrow::Result<int64_t> ServedValueNumber(const storage::LakeStores& stores,
                                         const std::string& store, const std::string& value) {
  const auto number = stores.ValueNumber(store, value);
  if (!number) {
    return arrow::Status::Invalid("a value of the lake table is no longer served: read the "
                                  "table again");
  }
  return *number;
}

std::string LakeValueSql(const std::string& store, const std::string& number_sql) {
  return std::string(storage::kLakeValueFunction) + "(" + QuoteLiteral(store) + ", " +
         number_sql + ")";
}

// A file of the lake (an AddFile path) as the quoted path DuckDB reads it by.
arrow::Result<std::string> ServedFileSql(const storage::LakeStores& stores,
                                         const std::string& store, const std::string& path) {
  const auto number = stores.FileNumber(store, lake::KeyOfPath(path));
  if (!number) {
    return arrow::Status::Invalid("a file of the lake table is no longer served: read the "
                                  "table again");
  }
  return QuoteLiteral(storage::LakeStores::PathOf(store, *number));
}

// A partition value as a typed SQL expression: the value itself is read by its number.
arrow::Result<std::string> PartitionValueSql(const storage::LakeStores& stores,
                                             const std::string& store,
                                             const std::optional<std::string>& value,
                                             const arrow::DataType& type) {
  const std::string type_name = lake::DuckDbTypeName(type);
  if (!value) return "CAST(NULL AS " + type_name + ")";
  ARROW_ASSIGN_OR_RAISE(const int64_t number, ServedValueNumber(stores, store, *value));
  const std::string text = LakeValueSql(store, std::to_string(number));
  if (type.id() == arrow::Type::TIMESTAMP &&
      !static_cast<const arrow::TimestampType&>(type).timezone().empty()) {
    // An instant: with its zone ("...Z") as we write it; zone-less text (other writers)
    // is UTC, whatever the session's time zone.
    const bool zoned = !value->empty() && (value->back() == 'Z' ||
                                           value->find('+', 10) != std::string::npos);
    if (!zoned) return "timezone('UTC', CAST(" + text + " AS TIMESTAMP))";
  }
  return "CAST(" + text + " AS " + type_name + ")";
}

// A DuckLake's inlined value as served to SQL: blobs as hex (SQL text cannot hold any
// byte), everything else as the catalog holds it.
bool IsBlobColumn(const lake::Snapshot& snapshot, const std::string& column) {
  const int index = snapshot.schema ? snapshot.schema->GetFieldIndex(column) : -1;
  if (index < 0) return false;
  const auto id = snapshot.schema->field(index)->type()->id();
  return id == arrow::Type::BINARY || id == arrow::Type::LARGE_BINARY;
}

std::string InlinedValueText(const lake::Snapshot& snapshot, const std::string& column,
                             const std::string& value) {
  return IsBlobColumn(snapshot, column) ? HexTextUpper(value) : value;
}

// The text of a DuckLake column's default for rows written before it was added (read by
// its number, like a partition value).
arrow::Result<std::string> InitialDefaultSql(const storage::LakeStores& stores,
                                             const std::string& store,
                                             const lake::DuckLakeTableInfo& info,
                                             const std::string& column) {
  ARROW_ASSIGN_OR_RAISE(const int64_t number,
                        ServedValueNumber(stores, store, info.initial_defaults.at(column)));
  return LakeValueSql(store, std::to_string(number));
}

// The rows a DuckLake keeps in its catalog (data inlining), each value read by its
// number like a partition value, cast to its column's type.
arrow::Result<std::string> InlinedRowsSql(const storage::LakeStores& stores,
                                          const std::string& store,
                                          const lake::Snapshot& snapshot) {
  // Each value becomes a few bytes of SQL: more than this should be flushed to Parquet.
  constexpr size_t kMaxInlinedValues = 200000;
  size_t values = 0;
  std::string sql;
  for (const auto& block : snapshot.ducklake->inlined) {
    std::vector<std::pair<size_t, int>> columns;  // block column -> schema field
    for (size_t c = 0; c < block.columns.size(); ++c) {
      const int index = snapshot.schema->GetFieldIndex(block.columns[c]);
      if (index >= 0) columns.emplace_back(c, index);
    }
    if (columns.empty() || block.rows.empty()) continue;
    values += block.rows.size() * columns.size();
    if (values > kMaxInlinedValues) {
      return arrow::Status::NotImplemented(
          "the DuckLake table holds over ", kMaxInlinedValues,
          " values inlined in its catalog, more than Arrowport reads: flush them to Parquet "
          "(CALL ducklake_flush_inlined_data) to read the table");
    }
    std::string rows, names;
    for (const auto& row : block.rows) {
      std::string tuple;
      for (const auto& [c, index] : columns) {
        std::string cell = "NULL";
        if (c < row.size() && row[c]) {
          ARROW_ASSIGN_OR_RAISE(
              const int64_t number,
              ServedValueNumber(stores, store,
                                InlinedValueText(snapshot, block.columns[c], *row[c])));
          cell = std::to_string(number);
        }
        tuple += (tuple.empty() ? "" : ", ") + cell;
      }
      rows += (rows.empty() ? "(" : ", (") + tuple + ")";
    }
    std::string select;
    for (size_t k = 0; k < columns.size(); ++k) {
      const auto& [c, index] = columns[k];
      const auto& field = snapshot.schema->field(index);
      names += (names.empty() ? "" : ", ") + std::string("v") + std::to_string(k);
      std::string value = LakeValueSql(store, "CAST(v" + std::to_string(k) + " AS BIGINT)");
      if (IsBlobColumn(snapshot, field->name())) value = "unhex(" + value + ")";
      select += (select.empty() ? "" : ", ") + std::string("CAST(") + value + " AS " +
                lake::DuckDbTypeName(*field->type()) + ") AS " + QuoteIdentifier(field->name());
    }
    // Columns added after these rows were inlined: their defaults.
    for (const auto& field : snapshot.schema->fields()) {
      const auto& info = *snapshot.ducklake;
      if (!info.initial_defaults.count(field->name()) ||
          std::find(block.columns.begin(), block.columns.end(), field->name()) !=
              block.columns.end()) {
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(auto value, InitialDefaultSql(stores, store, info, field->name()));
      select += ", CAST(" + value + " AS " + lake::DuckDbTypeName(*field->type()) + ") AS " +
                QuoteIdentifier(field->name());
    }
    sql += " UNION ALL BY NAME SELECT " + select + " FROM (VALUES " + rows + ") AS inlined(" +
           names + ")";
  }
  return sql;
}

// A DuckLake's files as DuckDB reads them by field id (its column ids): a column renamed
// since a file was written keeps its values, a column added since takes its default.
// `skipped`: columns taken from partition values instead.
arrow::Result<std::string> FieldIdSchemaSql(const storage::LakeStores& stores,
                                            const std::string& store,
                                            const lake::Snapshot& snapshot,
                                            const std::set<std::string>& skipped) {
  const auto& info = *snapshot.ducklake;
  std::string entries;
  for (const auto& field : snapshot.schema->fields()) {
    if (skipped.count(field->name())) continue;
    auto id = info.column_ids.find(field->name());
    if (id == info.column_ids.end()) {
      return arrow::Status::Invalid("the DuckLake column '", field->name(), "' has no id");
    }
    // Every default is text (the reader casts it): the map's values have one type.
    std::string default_value = "CAST(NULL AS VARCHAR)";
    if (info.initial_defaults.count(field->name())) {
      ARROW_ASSIGN_OR_RAISE(default_value,
                            InitialDefaultSql(stores, store, info, field->name()));
    }
    entries += (entries.empty() ? "" : ", ") + std::to_string(id->second) +
               ": {name: " + QuoteLiteral(field->name()) + ", type: " +
               QuoteLiteral(lake::DuckDbTypeName(*field->type())) +
               ", default_value: " + default_value + "}";
  }
  return "MAP {" + entries + "}";
}

const lake::DuckLakeTableInfo::FileDeletes* DeletesOf(const lake::DuckLakeTableInfo& info,
                                                       const std::string& path) {
  auto it = info.deletes.find(path);
  return it == info.deletes.end() ? nullptr : &it->second;
}

// The condition leaving out a DuckLake data file's deleted rows (by position in the file:
// its delete file's and those inlined in the catalog).
arrow::Result<std::string> NotDeletedSql(const storage::LakeStores& stores,
                                         const std::string& store,
                                         const lake::DuckLakeTableInfo::FileDeletes& deletes) {
  std::string positions;
  if (!deletes.delete_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto path, ServedFileSql(stores, store, deletes.delete_file));
    // file_path named too: a file without it is not a delete file, and the read fails
    // rather than leave rows out by another file's column.
    positions = "SELECT pos FROM read_parquet(" + path + ") WHERE pos IS NOT NULL AND "
                "file_path IS NOT NULL";
    if (deletes.up_to_snapshot >= 0) {
      positions += " AND _ducklake_internal_snapshot_id <= " +
                   std::to_string(deletes.up_to_snapshot);
    }
  }
  if (!deletes.positions.empty()) {
    std::string list;
    for (const int64_t position : deletes.positions) {
      list += (list.empty() ? "" : ", ") + std::to_string(position);
    }
    positions += (positions.empty() ? "" : " UNION ALL ") + std::string("SELECT unnest([") +
                 list + "])";
  }
  return " WHERE file_row_number NOT IN (" + positions + ")";
}

// How a lake's files are read: the select list (a Delta file's partition columns left
// out) and read_parquet's options (a DuckLake's field-id schema).
struct FileReading {
  std::string without_partitions = "*";
  std::string reader_options = ", union_by_name = true";
};

// The SQL reading one group of files with the same partition `values`: files with
// deleted rows one by one, by row position; the others together.
arrow::Result<std::string> GroupSql(
    const storage::LakeStores& stores, const std::string& store, const lake::Snapshot& snapshot,
    const std::vector<std::pair<std::string, int>>& partition_columns, const FileReading& how,
    const std::vector<std::optional<std::string>>& values,
    const std::vector<const lake::AddFile*>& group) {
  std::string sql;
  std::string partition_values;
  for (size_t p = 0; p < partition_columns.size(); ++p) {
    const auto& [column, index] = partition_columns[p];
    ARROW_ASSIGN_OR_RAISE(auto value,
                          PartitionValueSql(stores, store, values[p],
                                            *snapshot.schema->field(index)->type()));
    partition_values += ", " + value + " AS " + QuoteIdentifier(column);
  }
  // Files with deleted rows are read one by one, by row position; the others together.
  std::string list;
  for (const auto* add : group) {
    ARROW_ASSIGN_OR_RAISE(const std::string path, ServedFileSql(stores, store, add->path));
    const auto* deletes = snapshot.ducklake ? DeletesOf(*snapshot.ducklake, add->path) : nullptr;
    if (!deletes) {
      list += (list.empty() ? "" : ", ") + path;
      continue;
    }
    if (snapshot.schema->GetFieldIndex("file_row_number") >= 0) {
      return arrow::Status::NotImplemented(
          "the DuckLake table has a column named file_row_number, the name its deleted "
          "rows are found by: rows deleted from it are not read");
    }
    ARROW_ASSIGN_OR_RAISE(auto not_deleted, NotDeletedSql(stores, store, *deletes));
    sql += " UNION ALL BY NAME SELECT * EXCLUDE (file_row_number)" + partition_values +
           " FROM read_parquet(" + path + how.reader_options +
           ", file_row_number = true, hive_partitioning = false)" + not_deleted;
  }
  if (list.empty()) return sql;
  sql += " UNION ALL BY NAME SELECT " + how.without_partitions + partition_values +
         " FROM read_parquet([" + list + "]" + how.reader_options +
         ", hive_partitioning = false)";
  return sql;
}

}  // namespace

void AddServed(const lake::Snapshot& snapshot, storage::LakeServed* served) {
  for (const auto& [path, add] : snapshot.files) {
    const std::string key = lake::KeyOfPath(path);
    served->keys.insert(key);
    if (add.size > 0) served->sizes[key] = add.size;
    served->identities[key] = std::to_string(add.size) + ":" +
                              std::to_string(add.modification_time) + ":" +
                              std::to_string(add.row_id_start);
    for (const auto& [column, value] : add.partition_values) {
      if (value) served->values.insert(*value);
    }
  }
  if (snapshot.ducklake) {
    for (const auto& [path, deletes] : snapshot.ducklake->deletes) {
      if (!deletes.delete_file.empty()) {
        served->keys.insert(lake::KeyOfPath(deletes.delete_file));
      }
    }
    for (const auto& [column, value] : snapshot.ducklake->initial_defaults) {
      served->values.insert(value);
    }
    for (const auto& block : snapshot.ducklake->inlined) {
      for (const auto& row : block.rows) {
        for (size_t c = 0; c < row.size() && c < block.columns.size(); ++c) {
          if (row[c]) served->values.insert(InlinedValueText(snapshot, block.columns[c], *row[c]));
        }
      }
    }
  }
}

arrow::Result<std::string> LakeSelectSql(const storage::LakeStores& stores,
                                         const std::string& store,
                                         const lake::Snapshot& snapshot,
                                         const std::vector<const lake::AddFile*>& files,
                                         bool with_inlined_rows) {
  std::string columns, typed;
  for (const auto& field : snapshot.schema->fields()) {
    if (!columns.empty()) {
      columns += ", ";
      typed += ", ";
    }
    columns += QuoteIdentifier(field->name());
    typed += "CAST(NULL AS " + lake::DuckDbTypeName(*field->type()) + ") AS " +
             QuoteIdentifier(field->name());
  }
  std::string sql = "SELECT " + columns + " FROM (SELECT " + typed + " WHERE false";
  // The partition columns the schema has (their names were checked with it).
  std::vector<std::pair<std::string, int>> partition_columns;
  // A DuckLake's files hold its partition columns themselves: taken from its partition
  // values (which let filters skip files) only when every file states them.
  const lake::DuckLakeTableInfo* ducklake = snapshot.ducklake.get();
  const bool by_values =
      !ducklake || (ducklake->partition_values_complete &&
                    snapshot.metadata.partition_columns.size() <
                        static_cast<size_t>(snapshot.schema->num_fields()));
  for (const auto& column : by_values ? snapshot.metadata.partition_columns
                                      : std::vector<std::string>{}) {
    const int index = snapshot.schema->GetFieldIndex(column);
    if (index >= 0) partition_columns.emplace_back(column, index);
  }
  // Files by their partition values (in partition column order).
  std::map<std::vector<std::optional<std::string>>, std::vector<const lake::AddFile*>> groups;
  for (const auto* add : files) {
    std::vector<std::optional<std::string>> key;
    for (const auto& [column, index] : partition_columns) {
      auto it = add->partition_values.find(column);
      key.push_back(it == add->partition_values.end() ? std::nullopt : it->second);
    }
    groups[key].push_back(add);
  }
  // Partition columns a file may also hold (some writers keep them) are left out of it.
  FileReading how;
  if (ducklake) {
    std::set<std::string> skipped;
    for (const auto& [column, index] : partition_columns) skipped.insert(column);
    ARROW_ASSIGN_OR_RAISE(auto schema, FieldIdSchemaSql(stores, store, snapshot, skipped));
    how.reader_options = ", schema = " + schema;
  } else if (!partition_columns.empty()) {
    std::string names;
    for (const auto& [column, index] : partition_columns) {
      names += (names.empty() ? "" : ", ") + QuoteLiteral(column);
    }
    how.without_partitions = "COLUMNS(lambda c: c NOT IN (" + names + "))";
  }
  for (const auto& [values, group] : groups) {
    ARROW_ASSIGN_OR_RAISE(auto group_sql, GroupSql(stores, store, snapshot, partition_columns,
                                                   how, values, group));
    sql += group_sql;
  }
  if (with_inlined_rows && snapshot.ducklake && !snapshot.ducklake->inlined.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto inlined, InlinedRowsSql(stores, store, snapshot));
    sql += inlined;
  }
  return sql + ")";
}

std::string LakeRefusedSql(const std::string& store,
                           const std::shared_ptr<arrow::Schema>& schema) {
  // Every column is the refusal function's answer (NULL, or the query fails), and so is the
  // filter: no outer filter or projection can fold the view to rows without calling it.
  std::string typed;
  if (schema) {
    for (const auto& field : schema->fields()) {
      typed += (typed.empty() ? "" : ", ") + std::string("CAST(refusal AS ") +
               lake::DuckDbTypeName(*field->type()) + ") AS " + QuoteIdentifier(field->name());
    }
  }
  if (typed.empty()) typed = "refusal AS refused";
  return "SELECT " + typed + " FROM (SELECT " + storage::kLakeRefusalFunction + "(" +
         QuoteLiteral(store) + ") AS refusal) WHERE refusal IS NOT NULL";
}

}  // namespace arrowport::query
