#pragma once

// Internal to storage: what the C API does not offer, through DuckDB's C++ API (valid for
// the library the server was built against; see Database::direct_append_enabled).

#include <duckdb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/storage/duckdb_handle.h"

namespace duckdb {
class ClientContext;
}

namespace arrowport::storage {

class LakeStores;

/// Registers the DuckDB file system that reads `arrowport-lake://` paths through `stores`.
void RegisterLakeFileSystem(duckdb_database database, const LakeStores& stores);

/// The C++ client context of a C API connection (owned by the connection).
duckdb::ClientContext* ClientContextOf(duckdb_connection connection);

/// DuckDB's memory limit in force for `database`, in bytes.
int64_t MemoryLimitBytes(duckdb_database database);

/// True when `connection` has a transaction open (the C API cannot tell), an automatic
/// one (a statement or streaming result in progress) included.
bool InTransaction(duckdb_connection connection);

/// True when `connection` has an explicit transaction open (BEGIN without its COMMIT or
/// ROLLBACK yet; aborted ones included).
bool ExplicitTransactionOpen(duckdb_connection connection);

/// \brief The result columns of the single statement in `sql` (prepared as `prepared`
/// on `connection`) with the types of `prepared`'s bound values, as DuckDB binds it to run
/// it with them: bound only, never planned or run, so a statement that writes writes
/// nothing, and the connection's transaction is left as it was.
arrow::Status BoundResultColumns(duckdb_connection connection,
                                 duckdb_prepared_statement prepared, const std::string& sql,
                                 std::vector<LogicalTypeHandle>* types,
                                 std::vector<std::string>* names);

/// \brief Makes DuckDB's `arrow_scan` (what duckdb_arrow_scan registers streams with)
/// read every column and apply filters itself. Its C API stream ignores the projection
/// and filters DuckDB pushes into the scan (upstream duckdb/duckdb#17012): a query that
/// reads some columns of a stream got other columns' bytes, and its WHERE was dropped.
/// Once per database, before any stream is scanned.
arrow::Status DisableArrowScanPushdown(duckdb_connection connection);

/// The worker threads DuckDB runs queries on, for `connection`'s database (at least 1).
int DuckDBThreads(duckdb_connection connection);

/// \brief Caps what a streaming result on `connection` buffers ahead of its reader.
/// Direct, not through SET: the database's configuration is locked.
void SetStreamingBufferBytes(duckdb_connection connection, int64_t bytes);

/// \brief Begins an explicit transaction on `connection` as SQL BEGIN does, but on the
/// calling thread. DuckDB runs BEGIN and COMMIT statements as tasks on its worker threads:
/// a hand-off and a wake-up each, which cost a one-row write 0.5-1 ms and much of its p99.
/// False, with nothing done, when only the SQL statement can do it here (a transaction is
/// open already, or an open result's, which SQL BEGIN would close first; the database is
/// invalidated): its error is then DuckDB's own.
arrow::Result<bool> BeginOnCallingThread(duckdb_connection connection);

/// \brief Commits `connection`'s explicit transaction as SQL COMMIT does, on the calling
/// thread. On failure the transaction has ended (as with SQL COMMIT). False, with nothing
/// done, when only the SQL statement can do it: no explicit transaction, a result still
/// open in it, or an aborted transaction (which SQL COMMIT turns into a rollback).
arrow::Result<bool> CommitOnCallingThread(duckdb_connection connection);

/// True when the single statement in `sql` (INSERT, UPDATE, DELETE, MERGE) has a
/// RETURNING clause, by DuckDB's parser.
arrow::Result<bool> HasReturning(duckdb_connection connection, const std::string& sql);

}  // namespace arrowport::storage
