// Connection: small appends, straight into table storage or through DuckDB's appender.
#include "arrowport/storage/database/connection.h"

#include <duckdb.h>

#include "arrow/c/bridge.h"
#include "arrow/record_batch.h"
#include "arrowport/storage/database/connection_impl.h"
#include "arrowport/storage/database/direct_append.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_handle.h"

namespace arrowport::storage {

arrow::Result<int64_t> Connection::AppendBatches(
    const TableName& table, const std::vector<std::string>& columns,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  TableAppend append;
  append.target = table;
  append.columns = columns;
  append.batches = batches;
  ARROW_RETURN_NOT_OK(AppendAtomically({append}));
  int64_t rows = 0;
  for (const auto& batch : batches) rows += batch->num_rows();
  return rows;
}

arrow::Status Connection::AppendAtomically(const std::vector<TableAppend>& appends) {
  // DuckDB's own Arrow conversion, one vector (2048 rows) per chunk.
  std::vector<DataChunkHandle> owned;
  std::vector<DirectTarget> targets;
  constexpr int64_t kChunkRows = 2048;
  for (const auto& append : appends) {
    DirectTarget& target = targets.emplace_back();
    target.catalog = append.target.CatalogIn(impl_->catalog);
    target.schema = append.target.schema;
    target.table = append.target.table;
    target.columns = append.columns;
    if (append.batches.empty()) continue;
    ArrowSchema c_schema;
    ARROW_RETURN_NOT_OK(arrow::ExportSchema(*append.batches.front()->schema(), &c_schema));
    ConvertedSchemaHandle converted;
    auto st = ConsumeErrorData(
        duckdb_schema_from_arrow(impl_->conn.get(), &c_schema, converted.out()));
    if (c_schema.release) c_schema.release(&c_schema);
    ARROW_RETURN_NOT_OK(st);
    for (const auto& batch : append.batches) {
      for (int64_t offset = 0; offset < batch->num_rows(); offset += kChunkRows) {
        auto slice = batch->Slice(offset, kChunkRows);
        ArrowArray c_array;
        ARROW_RETURN_NOT_OK(arrow::ExportRecordBatch(*slice, &c_array));
        duckdb_data_chunk chunk = nullptr;
        auto converted_st = ConsumeErrorData(
            duckdb_data_chunk_from_arrow(impl_->conn.get(), &c_array, converted.get(), &chunk));
        if (c_array.release) c_array.release(&c_array);  // DuckDB took what it needs
        owned.emplace_back(chunk);
        ARROW_RETURN_NOT_OK(converted_st);
        target.chunks.push_back(chunk);
      }
    }
  }
  const bool own_transaction = !in_transaction();
  // Held for our own transaction (kept to the end of this call), or for the caller's.
  std::vector<TablePass> passes;
  for (const auto& append : appends) {
    ARROW_ASSIGN_OR_RAISE(auto pass, Hold(append.target, TableUse::kWrite));
    if (pass) passes.push_back(std::move(pass));
  }
  if (own_transaction && impl_->direct_append) {
    auto direct = DirectAppend(impl_->conn.get(), targets);
    if (!direct.IsNotImplemented()) return direct;
  }
  // DuckDB's SQL appender: fills DEFAULTs and generated columns, casts where types differ.
  // It commits each flush on its own outside a transaction, hence ours.
  if (own_transaction) ARROW_RETURN_NOT_OK(Begin());
  auto st = [&]() -> arrow::Status {
    for (const auto& target : targets) {
      AppenderHandle appender;
      auto error = [&](const char* what) {
        auto st = ConsumeErrorData(duckdb_appender_error_data(appender.get()));
        return st.ok() ? arrow::Status::IOError(what) : st;
      };
      if (duckdb_appender_create_ext(impl_->conn.get(), target.catalog.c_str(),
                                     target.schema.c_str(), target.table.c_str(),
                                     appender.out()) == DuckDBError) {
        return error("cannot create appender");
      }
      for (const auto& column : target.columns) {
        if (duckdb_appender_add_column(appender.get(), column.c_str()) == DuckDBError) {
          return error("cannot select appender column");
        }
      }
      for (auto chunk : target.chunks) {
        if (duckdb_append_data_chunk(appender.get(), chunk) == DuckDBError) {
          return error("cannot append rows");
        }
      }
      // Close flushes (and, outside a transaction, commits); its result must be checked.
      if (duckdb_appender_close(appender.get()) == DuckDBError) {
        return error("cannot commit appended rows");
      }
    }
    return own_transaction ? Commit() : arrow::Status::OK();
  }();
  if (!st.ok() && own_transaction) (void)Rollback();
  return st;
}

}  // namespace arrowport::storage
