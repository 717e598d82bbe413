// The rows of a DuckLake table its catalog holds rather than its Parquet files: rows
// DuckDB inlined (data inlining) and the positions of rows deleted from data files (delete
// files, inlined deletes), as the specification's "Queries: Reading" applies them.

#include "arrowport/lake/ducklake_sql.h"

namespace arrowport::lake {

namespace {

// ducklake_inlined_data_<table>_<version>: the only names read from the catalog that
// become SQL text here.
bool IsInlinedTableName(const std::string& name) {
  const std::string prefix = "ducklake_inlined_data_";
  if (name.rfind(prefix, 0) != 0 || name.size() > 128) return false;
  int underscores = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] == '_') {
      ++underscores;
    } else if (name[i] < '0' || name[i] > '9') {
      return false;
    }
  }
  return underscores == 1 && name.back() != '_';
}

// PostgreSQL's text form of bytea ("\x4142") -> the bytes.
std::string FromByteaText(const std::string& text) {
  if (text.rfind("\\x", 0) != 0) return text;
  std::string out;
  auto nibble = [](char c) {
    return c <= '9' ? c - '0' : (c >= 'a' ? c - 'a' + 10 : c - 'A' + 10);
  };
  for (size_t i = 2; i + 1 < text.size(); i += 2) {
    out += static_cast<char>(nibble(text[i]) * 16 + nibble(text[i + 1]));
  }
  return out;
}

}  // namespace

arrow::Status ReadInlinedRows(CatalogConnection* catalog, DuckLakeTableInfo* info,
                              const std::string& table_id, const std::string& at) {
  ARROW_ASSIGN_OR_RAISE(auto tables,
                        catalog->Query("SELECT table_name, schema_version FROM "
                                       "ducklake_inlined_data_tables WHERE table_id = ? "
                                       "ORDER BY schema_version",
                                       {table_id}));
  const bool sqlite = std::string(catalog->dialect()) == "sqlite";
  for (const auto& row : tables) {
    const std::string name = row[0].value_or("");
    if (!IsInlinedTableName(name)) {
      return arrow::Status::Invalid("the DuckLake catalog names an inlined-data table '",
                                    name.substr(0, 64), "' of an unexpected form");
    }
    // Its columns: DuckDB's three (row_id, begin_snapshot, end_snapshot, or with a
    // _ducklake_ prefix), then the table's, by name.
    std::vector<CatalogRow> columns;
    if (sqlite) {
      ARROW_ASSIGN_OR_RAISE(columns, catalog->Query("SELECT name, type FROM pragma_table_info(?)",
                                                    {name}));
    } else {
      ARROW_ASSIGN_OR_RAISE(columns, catalog->Query(
                                         "SELECT column_name::text, data_type::text FROM "
                                         "information_schema.columns WHERE table_name = ? AND "
                                         "table_schema = current_schema() ORDER BY "
                                         "ordinal_position",
                                         {name}));
    }
    if (columns.empty()) {
      // Read in one transaction with its ducklake_inlined_data_tables row: not a table
      // dropped meanwhile, a catalog that names one it does not have.
      return arrow::Status::Invalid("the DuckLake catalog names an inlined-data table '",
                                    name, "' that does not exist");
    }
    DuckLakeTableInfo::InlinedRows inlined;
    inlined.schema_version = ToInt(row[1]).ValueOr(-1);
    std::vector<bool> bytea;
    std::string begin = "begin_snapshot", end = "end_snapshot", select;
    for (const auto& column : columns) {
      const std::string column_name = column[0].value_or("");
      if (column_name == "row_id" || column_name == "_ducklake_row_id") continue;
      if (column_name == "begin_snapshot" || column_name == "_ducklake_begin_snapshot") {
        begin = column_name;
        continue;
      }
      if (column_name == "end_snapshot" || column_name == "_ducklake_end_snapshot") {
        end = column_name;
        continue;
      }
      inlined.columns.push_back(column_name);
      bytea.push_back(!sqlite && column[1].value_or("") == "bytea");
      select += (select.empty() ? "" : ", ") + QuotedName(column_name);
    }
    if (select.empty()) continue;
    ARROW_ASSIGN_OR_RAISE(
        inlined.rows,
        catalog->Query("SELECT " + select + " FROM " + QuotedName(name) + " WHERE ? >= " +
                           QuotedName(begin) + " AND (" + QuotedName(end) + " IS NULL OR ? < " +
                           QuotedName(end) + ")",
                       {at, at}));
    if (inlined.rows.empty()) continue;
    for (auto& values : inlined.rows) {
      for (size_t c = 0; c < values.size() && c < bytea.size(); ++c) {
        if (bytea[c] && values[c]) values[c] = FromByteaText(*values[c]);
      }
    }
    info->inlined.push_back(std::move(inlined));
  }
  return arrow::Status::OK();
}

arrow::Status ReadFileDeletes(CatalogConnection* catalog, const std::string& table_id,
                              const std::string& at, const std::string& table_folder,
                              const std::map<int64_t, std::string>& path_of_file,
                              DuckLakeTableInfo* info) {
  // Positions become SQL text of reads: more than this should be in delete files.
  constexpr size_t kMaxInlinedPositions = 200000;
  ARROW_ASSIGN_OR_RAISE(const int64_t snapshot, ToInt(CatalogValue(at)));
  auto unreadable = [&](const std::string& why) {
    if (info->unreadable_rows.empty()) info->unreadable_rows = why;
  };
  ARROW_ASSIGN_OR_RAISE(
      auto files,
      catalog->Query("SELECT data_file_id, path, path_is_relative, format, partial_max FROM "
                     "ducklake_delete_file d WHERE table_id = ? AND " + Visible("d"),
                     {table_id, at, at}));
  for (const auto& file : files) {
    ARROW_ASSIGN_OR_RAISE(const int64_t data_file, ToInt(file[0]));
    auto data = path_of_file.find(data_file);
    if (data == path_of_file.end()) continue;  // of a file no longer live
    if (file[3].value_or("parquet") != "parquet") {
      unreadable("rows of it were deleted in " + file[3].value_or("") +
                 " delete files, which Arrowport does not read");
      continue;
    }
    auto key = DataFileKey(file[1].value_or(""), IsTrue(file[2]), table_folder);
    if (!key.ok()) {
      unreadable(key.status().message());
      continue;
    }
    auto& deletes = info->deletes[data->second];
    if (!deletes.delete_file.empty()) {
      unreadable("its data file " + data->second + " has two live delete files");
      continue;
    }
    deletes.delete_file = PathOfKey(*key);
    // A partial delete file holds deletes of several snapshots, each row marked with its
    // own: those after the snapshot read do not apply yet.
    if (file[4] && ToInt(file[4]).ValueOr(INT64_MAX) > snapshot) deletes.up_to_snapshot = snapshot;
  }
  const std::string inlined = "ducklake_inlined_delete_" + table_id;
  ARROW_ASSIGN_OR_RAISE(const bool exists, TableExists(catalog, inlined));
  if (exists) {
    ARROW_ASSIGN_OR_RAISE(auto rows,
                          catalog->Query("SELECT file_id, row_id FROM " + inlined +
                                         " WHERE begin_snapshot <= ?", {at}));
    size_t positions = 0;
    for (const auto& row : rows) {
      ARROW_ASSIGN_OR_RAISE(const int64_t data_file, ToInt(row[0]));
      ARROW_ASSIGN_OR_RAISE(const int64_t position, ToInt(row[1]));
      auto data = path_of_file.find(data_file);
      if (data == path_of_file.end()) continue;
      if (position < 0) {
        unreadable("its catalog deletes row position " + std::to_string(position) +
                   " of data file " + data->second + ", which no file has");
        break;
      }
      if (++positions > kMaxInlinedPositions) {
        unreadable("it holds over " + std::to_string(kMaxInlinedPositions) +
                   " deleted rows inlined in its catalog, more than Arrowport reads: flush "
                   "them (CALL ducklake_flush_inlined_data) to read the table");
        break;
      }
      info->deletes[data->second].positions.push_back(position);
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::lake
