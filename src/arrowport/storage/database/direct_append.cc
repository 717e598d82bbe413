#include "arrowport/storage/database/direct_append.h"

#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry/table_catalog_entry.hpp>
#include <duckdb/common/enums/database_modification_type.hpp>
#include <duckdb/common/error_data.hpp>
#include <duckdb/main/appender.hpp>
#include <duckdb/main/attached_database.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/transaction/meta_transaction.hpp>

#include "arrowport/storage/memory/allocation_guard.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_handle.h"

namespace arrowport::storage {

namespace {

// A target resolved against the catalog: the table and, per physical column, the chunk
// column that fills it (-1: NULL).
struct Resolved {
  duckdb::TableCatalogEntry* entry = nullptr;
  std::vector<int> source;
  duckdb::vector<duckdb::LogicalType> types;
};

// Empty when the direct path can write `target`; otherwise why not.
std::string Resolve(duckdb::ClientContext& context, const DirectTarget& target,
                    Resolved* out) {
  auto& entry = duckdb::Catalog::GetEntry<duckdb::TableCatalogEntry>(
      context, duckdb::QualifiedName(duckdb::Identifier(target.catalog), duckdb::Identifier(target.schema),
                                     duckdb::Identifier(target.table)));
  const auto& list = entry.GetColumns();
  out->entry = &entry;
  out->source.assign(list.PhysicalColumnCount(), -1);
  for (const auto& column : list.Logical()) {
    if (column.Generated()) return "table has generated columns";
    for (size_t i = 0; i < target.columns.size(); ++i) {
      if (column.Name() == target.columns[i]) {
        out->source[column.Physical().index] = static_cast<int>(i);
      }
    }
    if (out->source[column.Physical().index] < 0 && column.HasDefaultValue()) {
      return "a missing column has a DEFAULT";
    }
  }
  // Every named column must still exist (the caller's view of the table may be stale):
  // otherwise the SQL appender reports it instead of its data being dropped here.
  size_t matched = 0;
  for (int index : out->source) matched += index >= 0 ? 1 : 0;
  if (matched != target.columns.size()) return "a named column is not in the table";
  out->types = entry.GetTypes();
  for (auto* c_chunk : target.chunks) {
    auto& chunk = *reinterpret_cast<duckdb::DataChunk*>(c_chunk);
    for (size_t k = 0; k < out->types.size(); ++k) {
      const int from = out->source[k];
      if (from >= 0 && chunk.data[static_cast<size_t>(from)].GetType() != out->types[k]) {
        return "column types differ";
      }
    }
  }
  return "";
}

void Append(duckdb::ClientContext& context, const DirectTarget& target, const Resolved& resolved) {
  // What an INSERT's planner does: mark the transaction as writing to this database, so
  // the commit writes the WAL (and a read-only database refuses it).
  duckdb::MetaTransaction::Get(context).ModifyDatabase(
      resolved.entry->ParentCatalog().GetAttached(), duckdb::DatabaseModificationType::INSERT_DATA);
  duckdb::DataChunk full;
  full.InitializeEmpty(resolved.types);
  duckdb::InternalAppender appender(context, *resolved.entry);
  for (auto* c_chunk : target.chunks) {
    auto& chunk = *reinterpret_cast<duckdb::DataChunk*>(c_chunk);
    for (size_t k = 0; k < resolved.types.size(); ++k) {
      const int from = resolved.source[k];
      if (from < 0) {
        full.data[k].Reference(duckdb::Value(resolved.types[k]), duckdb::count_t(chunk.size()));
      } else {
        full.data[k].Reference(chunk.data[static_cast<size_t>(from)]);
      }
    }
    full.CheckCardinality(chunk.size());
    appender.AppendDataChunk(full);
  }
  appender.Flush();  // errors (constraints) throw here, not from the destructor
}

}  // namespace

arrow::Status DirectAppend(duckdb_connection connection,
                           const std::vector<DirectTarget>& targets) {
  ClientContextHandle c_context;
  duckdb_connection_get_client_context(connection, c_context.out());
  if (c_context.get() == nullptr) return arrow::Status::IOError("connection has no context");
  // The C API's client context handle is this wrapper (duckdb/main/capi/capi_internal.hpp).
  auto& context = reinterpret_cast<duckdb::CClientContextWrapper*>(c_context.get())->context;

  std::string unsupported;
  AllocationGuard::CommitScope committing;  // the rows are merged into the table here
  try {
    context.RunFunctionInTransaction([&]() {
      std::vector<Resolved> resolved(targets.size());
      for (size_t i = 0; i < targets.size() && unsupported.empty(); ++i) {
        unsupported = Resolve(context, targets[i], &resolved[i]);
      }
      if (!unsupported.empty()) return;  // nothing appended: commits an empty transaction
      for (size_t i = 0; i < targets.size(); ++i) Append(context, targets[i], resolved[i]);
    });
  } catch (const std::exception& e) {
    duckdb::ErrorData error(e);
    // Committed, and only the automatic checkpoint after it failed: the rows are in.
    return UnlessCommitted(TranslateDuckDBError(static_cast<int>(error.Type()), error.Message()));
  }
  if (!unsupported.empty()) return arrow::Status::NotImplemented(unsupported);
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
