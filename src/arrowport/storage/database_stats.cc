#include "arrowport/storage/database_stats.h"

#include "arrow/array.h"
#include "arrow/array/concatenate.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/storage/database.h"

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
  if (database->path() == ":memory:") return -1;
  ARROW_ASSIGN_OR_RAISE(auto conn, database->Connect());
  // Blocks of the checkpointed row groups; a segment may span more than one block.
  ARROW_ASSIGN_OR_RAISE(
      auto blocks,
      conn->QueryTable("SELECT (count(DISTINCT block_id) FILTER (WHERE block_id >= 0) + "
                       "coalesce(sum(len(additional_block_ids)), 0))::BIGINT, "
                       "(SELECT block_size FROM pragma_database_size() "
                       "WHERE database_name = current_database())::BIGINT "
                       "FROM pragma_storage_info(" +
                       QuoteLiteral("main." + QuoteIdentifier(table)) + ")"));
  if (blocks->num_rows() != 1) return -1;
  ARROW_ASSIGN_OR_RAISE(auto count, Int64Column(*blocks, 0));
  ARROW_ASSIGN_OR_RAISE(auto size, Int64Column(*blocks, 1));
  if (count->IsNull(0) || size->IsNull(0)) return -1;
  return count->Value(0) * size->Value(0);
}

}  // namespace arrowport::storage
