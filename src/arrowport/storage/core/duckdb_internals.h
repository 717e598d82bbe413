#pragma once

// Internal to storage: what the C API does not offer, through DuckDB's C++ API (valid for
// the library the server was built against; see Database::direct_append_enabled).

#include <duckdb.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/storage/core/duckdb_handle.h"

namespace duckdb {
class ClientContext;
}

namespace arrowport::storage {

class LakeStores;

/// Registers the DuckDB file system that reads `arrowport-lake://` paths through `stores`.
void RegisterLakeFileSystem(duckdb_database database, const LakeStores& stores);
/// Registers the scalar functions lake views read partition values and refusals with
/// (kLakeValueFunction, kLakeRefusalFunction).
arrow::Status RegisterLakeFunctions(duckdb_connection connection, const LakeStores& stores);

/// The C++ client context of a C API connection (owned by the connection).
duckdb::ClientContext* ClientContextOf(duckdb_connection connection);

/// \brief Whether the DuckDB instance `connection` belongs to still exists: its last
/// handle (a connection, a result, a prepared statement) closes it.
std::function<bool()> DuckDBInstanceAlive(duckdb_connection connection);

/// Closing `database` will not checkpoint it (its WAL is replayed at the next open).
void SkipCheckpointOnClose(duckdb_database database);

/// \brief Says, with DuckDB's words, when DuckDB has invalidated the instance of
/// `connection` (a fatal error) or its catalog `catalog` (a checkpoint that failed), as
/// the next statement would fail with them; empty while neither is. Reads DuckDB's own
/// flags (no connection, no statement) and keeps neither alive; thread-safe.
std::function<std::string()> InvalidationWatch(duckdb_connection connection,
                                               const std::string& catalog);

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

/// \brief Keeps SQL from raising internal errors in DuckDB's functions, which invalidate
/// the database (function_guards.cc): those that build a TIMESTAMP or TIMESTAMPTZ from
/// numbers alone (make_timestamp(micros), epoch_ms, to_timestamp, ...) refuse a result
/// before DuckDB's least timestamp with a conversion error, and its JSON functions are
/// marked able to fail (a malformed value is the query's error). Once per database,
/// before any statement is planned.
arrow::Status HardenDuckDBFunctions(duckdb_connection connection);

/// The worker threads DuckDB runs queries on, for `connection`'s database (at least 1).
int DuckDBThreads(duckdb_connection connection);

/// \brief Caps what a streaming result on `connection` buffers ahead of its reader.
/// Direct, not through SET: the database's configuration is locked.
void SetStreamingBufferBytes(duckdb_connection connection, int64_t bytes);

/// \brief DuckDB's optimizer off for the statements `connection` plans while it lives (a
/// setting local to the connection, cleared when it goes). For a plan the optimizer can
/// only leave as it is: a SELECT * of one base table (StatementGuard), whose optimizing
/// was a quarter of a 1,000-row read's CPU (0.53 M instructions of 2.13 M).
class OptimizerOff {
 public:
  explicit OptimizerOff(duckdb_connection connection);
  ~OptimizerOff();
  OptimizerOff(const OptimizerOff&) = delete;
  OptimizerOff& operator=(const OptimizerOff&) = delete;

 private:
  duckdb::ClientContext* context_;
};

/// \brief Whether DuckDB would run `statement` (made by duckdb_prepare) on the plan it
/// has: false when it would bind and plan it again first (a catalog it reads changed
/// since: PreparedStatementData::RequireRebind), or cannot tell. DuckDB's EXECUTE plans
/// such a statement again at every run and keeps the old plan, so a statement kept for
/// its plan is made again instead. Judged in the connection's open transaction, else in
/// an automatic one.
bool PlanIsCurrent(duckdb_prepared_statement statement);

/// What RunTransactionStep does: BEGIN TRANSACTION, COMMIT or ROLLBACK.
enum class TransactionStep { kBegin, kCommit, kRollback };

/// \brief Runs `step` on `connection` through DuckDB's C++ Connection API, which DuckDB
/// 2.0 runs on the calling thread with the checks, lock and interrupt handling of the SQL
/// statement, and with the same errors. The statement itself runs as a query whose task
/// goes to one of DuckDB's worker threads: a hand-off and a wake-up each, which cost a
/// one-row write 0.3-0.5 ms and most of its p99, and put a COMMIT outside the calling
/// thread's AllocationGuard::CommitScope.
arrow::Status RunTransactionStep(duckdb_connection connection, TransactionStep step);

/// What a name in DuckDB's catalog is.
enum class RelationKind { kMissing, kTable, kView };

/// One column of a base table, as DuckDB's catalog holds it.
struct CatalogColumn {
  std::string name;
  std::string type_sql;  ///< DuckDB's spelling of the type, as DESCRIBE shows it
  LogicalTypeHandle type;
  bool nullable = true;  ///< no NOT NULL or PRIMARY KEY on it
};

/// \brief What `catalog`.`schema`.`name` is and, for a base table when `columns` is not
/// null, its columns in table order (generated ones included, as DESCRIBE lists them).
/// Read from DuckDB's catalog in the connection's open transaction, else in an automatic
/// one: no statement is parsed, planned or run (a DESCRIBE cost a 1,000-row request
/// about 0.3 ms). Call only while no statement runs on `connection`. For a base table,
/// `estimated_rows` (when not null) gets DuckDB's estimate of its rows, the figure
/// duckdb_tables() shows as estimated_size (-1 when DuckDB has none). `temporary` (when
/// not null) gets whether the name resolves to a temporary table or view of the
/// connection's own (DuckDB looks for an unqualified name there first).
arrow::Result<RelationKind> LookUpRelation(duckdb_connection connection,
                                           const std::string& catalog,
                                           const std::string& schema, const std::string& name,
                                           std::vector<CatalogColumn>* columns,
                                           int64_t* estimated_rows = nullptr,
                                           bool* temporary = nullptr);

/// \brief Whether `catalog`.`schema`.`name` (parts as written, "" when not) resolves to a
/// temporary table of the connection's own, as DuckDB resolves it (an unqualified name
/// there first; two parts may name a catalog's table: temp.t). False when it cannot say.
bool NamesTemporaryTable(duckdb_connection connection, const std::string& catalog,
                         const std::string& schema, const std::string& name);

/// True when the single statement in `sql` (INSERT, UPDATE, DELETE, MERGE) has a
/// RETURNING clause, by DuckDB's parser.
arrow::Result<bool> HasReturning(duckdb_connection connection, const std::string& sql);

}  // namespace arrowport::storage
