#include "arrowport/storage/direct_append.h"

#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry/table_catalog_entry.hpp>
#include <duckdb/common/enums/database_modification_type.hpp>
#include <duckdb/common/error_data.hpp>
#include <duckdb/main/appender.hpp>
#include <duckdb/main/attached_database.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/transaction/meta_transaction.hpp>

#include "arrowport/storage/duckdb_error.h"

namespace arrowport::storage {

namespace {

struct ClientContextHandle {
  duckdb_client_context handle = nullptr;
  ~ClientContextHandle() {
    if (handle) duckdb_destroy_client_context(&handle);
  }
};

}  // namespace

arrow::Result<int64_t> DirectAppend(duckdb_connection connection, const std::string& catalog,
                                    const std::string& table,
                                    const std::vector<std::string>& columns,
                                    const std::vector<duckdb_data_chunk>& chunks) {
  ClientContextHandle c_context;
  duckdb_connection_get_client_context(connection, &c_context.handle);
  if (c_context.handle == nullptr) return arrow::Status::IOError("connection has no context");
  // The C API's client context handle is this wrapper (duckdb/main/capi/capi_internal.hpp).
  auto& context = reinterpret_cast<duckdb::CClientContextWrapper*>(c_context.handle)->context;

  int64_t rows = 0;
  std::string unsupported;
  try {
    context.RunFunctionInTransaction([&]() {
      auto& entry = duckdb::Catalog::GetEntry<duckdb::TableCatalogEntry>(
          context, duckdb::QualifiedName(duckdb::Identifier(catalog), duckdb::Identifier("main"),
                                         duckdb::Identifier(table)));
      const auto& list = entry.GetColumns();
      // For each physical table column, the chunk column that fills it (-1: NULL).
      std::vector<int> source(list.PhysicalColumnCount(), -1);
      for (const auto& column : list.Logical()) {
        if (column.Generated()) {
          unsupported = "table has generated columns";
          return;
        }
        for (size_t i = 0; i < columns.size(); ++i) {
          if (column.Name() == columns[i]) source[column.Physical().index] = static_cast<int>(i);
        }
        if (source[column.Physical().index] < 0 && column.HasDefaultValue()) {
          unsupported = "a missing column has a DEFAULT";
          return;
        }
      }
      // Every named column must still exist (the caller's view of the table may be stale):
      // otherwise the SQL appender reports it instead of its data being dropped here.
      size_t matched = 0;
      for (int index : source) matched += index >= 0 ? 1 : 0;
      if (matched != columns.size()) {
        unsupported = "a named column is not in the table";
        return;
      }
      const auto types = entry.GetTypes();
      for (auto* c_chunk : chunks) {
        auto& chunk = *reinterpret_cast<duckdb::DataChunk*>(c_chunk);
        for (size_t k = 0; k < types.size(); ++k) {
          if (source[k] >= 0 && chunk.data[static_cast<size_t>(source[k])].GetType() != types[k]) {
            unsupported = "column types differ";
            return;
          }
        }
      }
      // What an INSERT's planner does: mark the transaction as writing to this database,
      // so the commit writes the WAL (and a read-only database refuses it).
      duckdb::MetaTransaction::Get(context).ModifyDatabase(
          entry.ParentCatalog().GetAttached(), duckdb::DatabaseModificationType::INSERT_DATA);
      duckdb::DataChunk full;
      full.InitializeEmpty(types);
      duckdb::InternalAppender appender(context, entry);
      for (auto* c_chunk : chunks) {
        auto& chunk = *reinterpret_cast<duckdb::DataChunk*>(c_chunk);
        for (size_t k = 0; k < types.size(); ++k) {
          if (source[k] < 0) {
            full.data[k].Reference(duckdb::Value(types[k]), duckdb::count_t(chunk.size()));  // NULL
          } else {
            full.data[k].Reference(chunk.data[static_cast<size_t>(source[k])]);
          }
        }
        full.CheckCardinality(chunk.size());
        appender.AppendDataChunk(full);
        rows += static_cast<int64_t>(chunk.size());
      }
      appender.Flush();
    });
  } catch (const std::exception& e) {
    duckdb::ErrorData error(e);
    return TranslateDuckDBError(static_cast<int>(error.Type()), error.Message());
  }
  if (!unsupported.empty()) return arrow::Status::NotImplemented(unsupported);
  return rows;
}

}  // namespace arrowport::storage
