#include "arrowport/storage/database/database_stats.h"

#include <cstdlib>
#include <map>

#include "arrow/array.h"
#include "arrow/array/concatenate.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {

namespace {

// Column `i` of a one-chunk result, as int64 values.
arrow::Result<std::shared_ptr<arrow::Int64Array>> Int64Column(const arrow::Table& table,
                                                              int i) {
  ARROW_ASSIGN_OR_RAISE(auto column, arrow::Concatenate(table.column(i)->chunks()));
  auto ints = std::dynamic_pointer_cast<arrow::Int64Array>(column);
  if (ints == nullptr) return arrow::Status::TypeError("expected BIGINT column ", i);
  return ints;
}

}  // namespace

int64_t SegmentBytes(const std::string& segment_type, int64_t values, int64_t string_bytes) {
  if (segment_type == "VALIDITY") return (values + 7) / 8;
  // Strings: their bytes and a 4-byte offset each in the segment's dictionary.
  if (segment_type == "VARCHAR" || segment_type == "BLOB" || segment_type == "BIT") {
    return string_bytes + 4 * values;
  }
  // A list's (or map's) own segment holds one 8-byte entry per row; its child has its own.
  if (segment_type.ends_with("[]") || segment_type.starts_with("MAP(")) return 8 * values;
  if (segment_type.starts_with("DECIMAL(")) {
    const int width = std::atoi(segment_type.c_str() + 8);
    return values * (width <= 4 ? 2 : width <= 9 ? 4 : width <= 18 ? 8 : 16);
  }
  static const std::map<std::string, int64_t, std::less<>> kWidths = {
      {"BOOLEAN", 1},  {"TINYINT", 1},  {"UTINYINT", 1}, {"SMALLINT", 2},
      {"USMALLINT", 2}, {"INTEGER", 4}, {"UINTEGER", 4}, {"FLOAT", 4},
      {"DATE", 4},     {"HUGEINT", 16}, {"UHUGEINT", 16}, {"INTERVAL", 16},
      {"UUID", 16}};
  auto found = kWidths.find(segment_type);
  // Everything else the server writes is 8 bytes wide (BIGINT, DOUBLE, TIME, TIMESTAMP*).
  return values * (found == kWidths.end() ? 8 : found->second);
}

int64_t DatabaseStats::memory_bytes() const {
  int64_t total = 0;
  for (const auto& m : memory) total += m.memory_bytes;
  return total;
}

arrow::Result<DatabaseStats> ReadDatabaseStats(Database* database) {
  ARROW_ASSIGN_OR_RAISE(auto conn, database->Connect());
  DatabaseStats stats;
  ARROW_ASSIGN_OR_RAISE(
      auto size, conn->QueryTable("SELECT block_size::BIGINT, total_blocks::BIGINT, "
                                  "used_blocks::BIGINT FROM pragma_database_size() "
                                  "WHERE database_name = current_database()"));
  if (size->num_rows() == 1) {
    ARROW_ASSIGN_OR_RAISE(auto block_size, Int64Column(*size, 0));
    ARROW_ASSIGN_OR_RAISE(auto total, Int64Column(*size, 1));
    ARROW_ASSIGN_OR_RAISE(auto used, Int64Column(*size, 2));
    stats.block_size = block_size->Value(0);
    stats.total_blocks = total->Value(0);
    stats.used_blocks = used->Value(0);
  }
  ARROW_ASSIGN_OR_RAISE(
      auto memory, conn->QueryTable("SELECT tag, memory_usage_bytes::BIGINT, "
                                    "temporary_storage_bytes::BIGINT FROM duckdb_memory() "
                                    "ORDER BY tag"));
  ARROW_ASSIGN_OR_RAISE(auto tags, arrow::Concatenate(memory->column(0)->chunks()));
  ARROW_ASSIGN_OR_RAISE(auto used_bytes, Int64Column(*memory, 1));
  ARROW_ASSIGN_OR_RAISE(auto temporary_bytes, Int64Column(*memory, 2));
  for (int64_t i = 0; i < memory->num_rows(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto tag, tags->GetScalar(i));
    stats.memory.push_back(
        DatabaseStats::Memory{tag->ToString(), used_bytes->Value(i), temporary_bytes->Value(i)});
  }
  stats.wal_bytes = database->WalBytes();
  return stats;
}

arrow::Result<int64_t> ReadTableBytes(Database* database, const std::string& table) {
  ARROW_ASSIGN_OR_RAISE(auto conn, database->Connect());
  // One walk of the segment list (it is the cost: about 5 ms per million rows). The first
  // row: the file's blocks holding checkpointed row groups (a segment may span more than
  // one block) and the block size; then, by type, the values of the segments not
  // checkpointed yet (the WAL's, or an in-memory database's), which have no blocks in the
  // file and are uncompressed: values times width measures them.
  ARROW_ASSIGN_OR_RAISE(
      auto rows,
      conn->QueryTable(
          "WITH s AS MATERIALIZED (SELECT segment_type, persistent, count, block_id, "
          "additional_block_ids, stats FROM pragma_storage_info(" +
          QuoteLiteral("main." + QuoteIdentifier(table)) +
          ")) SELECT NULL::VARCHAR, (count(DISTINCT block_id) FILTER (WHERE block_id >= 0) "
          "+ coalesce(sum(len(additional_block_ids)) FILTER (WHERE persistent), 0))::BIGINT, "
          "coalesce((SELECT block_size FROM pragma_database_size() "
          "WHERE database_name = current_database()), 0)::BIGINT FROM s "
          "UNION ALL SELECT segment_type, sum(count)::BIGINT, coalesce(sum(TRY_CAST("
          "variant_extract(stats, 'total_string_length') AS BIGINT)), 0)::BIGINT "
          "FROM s WHERE NOT persistent GROUP BY segment_type"));
  if (rows->num_rows() == 0) return arrow::Status::IOError("no storage figures for ", table);
  ARROW_ASSIGN_OR_RAISE(auto types, arrow::Concatenate(rows->column(0)->chunks()));
  ARROW_ASSIGN_OR_RAISE(auto counts, Int64Column(*rows, 1));
  ARROW_ASSIGN_OR_RAISE(auto extra, Int64Column(*rows, 2));
  int64_t bytes = 0;
  for (int64_t i = 0; i < rows->num_rows(); ++i) {
    if (counts->IsNull(i) || extra->IsNull(i)) continue;
    if (types->IsNull(i)) {
      bytes += counts->Value(i) * extra->Value(i);  // blocks times block size
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(auto type, types->GetScalar(i));
    bytes += SegmentBytes(type->ToString(), counts->Value(i), extra->Value(i));
  }
  return bytes;
}

}  // namespace arrowport::storage
