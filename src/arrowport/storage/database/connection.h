#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/principal.h"
#include "arrowport/storage/core/column_info.h"
#include "arrowport/storage/core/query_options.h"
#include "arrowport/storage/core/table_gates.h"
#include "arrowport/storage/core/table_name.h"

namespace arrowport::storage {

enum class TransactionStep;  // duckdb_internals.h

/// What DuckDB holds per byte of SQL text while it parses and plans it, and for as long as
/// a prepared statement lives (measured: a 0.9 MB statement, a long IN list, holds 82 MB).
constexpr int64_t kPlanBytesPerSqlByte = 100;

/// Rows for one table, for Connection::AppendAtomically.
struct TableAppend {
  TableName target;
  std::vector<std::string> columns;  ///< table columns, in the batches' column order
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
};

/// \brief One DuckDB connection with its own transaction state. Not thread-safe.
class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Runs SQL that returns no rows of interest.
  arrow::Status Execute(const std::string& sql);
  /// Runs a statement and returns the number of rows it changed.
  arrow::Result<int64_t> ExecuteUpdate(const std::string& sql);
  /// As ExecuteUpdate, for one long statement (a bulk insert): this thread sleeps while
  /// DuckDB has no task for it instead of spinning (ExecutePendingQuietly).
  arrow::Result<int64_t> ExecuteBulkUpdate(const std::string& sql);
  /// As ExecuteUpdate, for a client's SQL: the SQL sandbox judges it for `principal`
  /// first (PermissionDenied when refused).
  /// The tables it writes are held (Hold) as it runs, waiting at most until
  /// `cancellation`.
  arrow::Result<int64_t> ExecuteUpdate(
      const std::string& sql, const Principal& principal,
      const std::shared_ptr<CallCancellation>& cancellation = nullptr);

  /// Name of the database's own catalog: DuckDB names it after the file, so SQL that
  /// names a schema qualifies it with this to stay unambiguous (file arrowport.duckdb
  /// vs schema arrowport).
  const std::string& catalog() const;

  /// True while an explicit transaction is open (DuckDB's own state: a failed COMMIT or a
  /// refused ROLLBACK is seen as it is). Begin/Commit/Rollback live on ConnectionLease.
  bool in_transaction() const;
  /// \brief Opens a transaction of the server's own, to read one consistent snapshot (a
  /// row range checked against its table in the same snapshot): read-only, never
  /// committed, gone with the connection. Unlike a client's transaction, a result read in
  /// it may be interrupted (which aborts nothing that matters) and so converts in parallel.
  arrow::Status BeginReadSnapshot();
  /// \brief Runs `hook` right after the open transaction commits (never when it rolls
  /// back, aborts or fails to commit): what must count only once the work is durable, as
  /// rows written into a client's transaction. Call only while a transaction is open.
  void OnCommit(std::function<void()> hook);
  /// \brief Holds `table` for `use` as this connection (table_gates.h: DuckDB corrupts a
  /// table whose ALTER overlaps a transaction writing it), waiting for the holds of other
  /// connections that exclude it, at most kTableWaitLimit or until `cancellation`. Inside
  /// a transaction the hold lasts until the transaction ends and the pass returned is
  /// empty; outside one the pass holds it: keep it from before BEGIN until after COMMIT
  /// or ROLLBACK (the transaction then starts after any change it waited for), or around
  /// one statement. Tables of the server's own state (the request log) are not held.
  arrow::Result<TablePass> Hold(
      const TableName& table, TableUse use,
      const std::shared_ptr<CallCancellation>& cancellation = nullptr);
  /// Hold() for the tables a client's statement writes (StatementGuard), by name: in one
  /// order whatever the statement's (by name, each table once with its strongest use).
  /// `writes_stored_data` (ChangesStoredData): the statement writes a database's file, so
  /// the disk's room and the database file are checked even when it holds no table.
  arrow::Result<std::vector<TablePass>> HoldAll(
      const std::vector<HeldTable>& tables,
      const std::shared_ptr<CallCancellation>& cancellation, bool writes_stored_data);
  /// Names who this connection holds tables for, from now on (TableHolder, since now):
  /// told to whoever waits for one of them in vain.
  void NameHolder(std::string who);
  /// True while another connection waits for a table this one holds. Thread-safe
  /// (asked of an idle connection by its owner's sweeper).
  bool HoldsUpOthers() const;
  /// `table`'s fully qualified, quoted SQL name on this connection.
  std::string Qualified(const TableName& table) const;

  /// Columns of a table or view, or nullopt when there is none.
  arrow::Result<std::optional<std::vector<ColumnInfo>>> DescribeRelation(
      const TableName& name);
  /// \brief True when a table or view of that name exists, from the catalog alone (no
  /// statement runs): what a read checks before it names the table in SQL.
  arrow::Result<bool> RelationExists(const TableName& name);
  /// \brief DuckDB's estimate of the rows of base table `name` (duckdb_tables()'s
  /// estimated_size), from the catalog alone; nullopt when there is no such table (a view
  /// is none) or DuckDB has no estimate.
  arrow::Result<std::optional<int64_t>> EstimatedRows(const TableName& name);
  /// \brief True when `name` is a view (DuckDB's names ignore case: "events" finds the
  /// view "Events"), from the catalog alone.
  arrow::Result<bool> IsView(const TableName& name);

  /// \brief Exposes `source` to SQL as a view that the next statement reading it scans
  /// once, batch by batch, as batches arrive. Views over Arrow streams cannot live in a
  /// persistent catalog, so they go to an in-memory scratch catalog: register *before*
  /// opening a transaction that writes the database (DuckDB lets one transaction write
  /// one catalog), and DropArrowStream() when done. Returns the qualified relation name
  /// to use in SQL; `columns` receives DuckDB's mapping of the schema.
  /// `columns` may be null when the caller already knows the mapping (saves a DESCRIBE).
  /// The stream is read by one scan: a statement whose plan would scan the relation again
  /// (a recursive CTE's recursive part, a second reference) fails with
  /// `second_scan_error` (a default one naming the relation when empty).
  arrow::Result<std::string> RegisterArrowStream(
      std::shared_ptr<arrow::RecordBatchReader> source, std::vector<ColumnInfo>* columns,
      const std::string& second_scan_error = {});

  /// \brief Appends small, already received batches to `table` (schema main), into
  /// `columns` (table column names, in the batches' column order; other columns get NULL
  /// or their defaults). The batches' DuckDB types must equal the columns' types. Outside
  /// a transaction the rows go straight into table storage and commit as one transaction
  /// (all or nothing); tables with DEFAULTs or generated columns, and calls inside a
  /// transaction, go through DuckDB's SQL appender instead. Returns the rows appended.
  arrow::Result<int64_t> AppendBatches(
      const TableName& table, const std::vector<std::string>& columns,
      const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches);
  /// As AppendBatches, for several tables in one transaction: all or nothing.
  arrow::Status AppendAtomically(const std::vector<TableAppend>& appends);

  /// Drops a view made by RegisterArrowStream and releases its reader. Never fails loudly.
  void DropArrowStream(const std::string& relation);

  /// A transform's text parses and is one SELECT (StatementGuard::CheckTransformText).
  arrow::Status CheckTransformText(const std::string& sql);

  /// Result schema of a query, without running it.
  /// With `principal`, the SQL sandbox judges it first (it is a client's SQL).
  arrow::Result<std::shared_ptr<arrow::Schema>> DescribeQuery(
      const std::string& sql, const Principal* principal = nullptr);

  /// \brief A cheap fingerprint of a table's columns (names and full types) straight from
  /// DuckDB's catalog, without a SQL statement: tells whether a cached view of the table
  /// is still current. nullopt when there is no such table.
  arrow::Result<std::optional<std::string>> TableSignature(const TableName& table);

  /// Tables and views of schema main.
  arrow::Result<std::vector<TableInfo>> ListRelations();

  /// Runs a small query and materialises the result (metadata lookups, tests).
  arrow::Result<std::shared_ptr<arrow::Table>> QueryTable(
      const std::string& sql, const std::vector<std::string>& parameters = {});

  /// \brief Runs `sql` and streams the result as Arrow record batches. The reader owns
  /// the connection; DuckDB produces rows only as the reader is pulled.
  static arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Query(
      std::unique_ptr<Connection> connection, const std::string& sql,
      const QueryOptions& options = {});

  /// Asks a running query on this connection to stop (thread-safe).
  void Interrupt();

  /// Interrupts whatever this connection runs when `cancellation` is cancelled, until the
  /// returned subscription is destroyed (which must happen before the connection is).
  [[nodiscard]] CallCancellation::Subscription InterruptOn(
      const std::shared_ptr<CallCancellation>& cancellation);

 private:
  friend class Database;
  friend class PreparedStatement;  // runs on the connection's DuckDB handle, holds tables
  friend class ConnectionLease;    // the transaction API (shared_connection.h)
  friend class KeptConnections;    // keeps a read's connection for the next read
  friend class ConnectionLender;
  arrow::Status Begin();
  /// A failed COMMIT leaves no transaction open (DuckDB rolls it back).
  arrow::Status Commit();
  /// BEGIN, COMMIT or ROLLBACK, on this thread where DuckDB's C++ API may be used
  /// (duckdb_internals.h), else as SQL.
  arrow::Status RunStep(TransactionStep step);
  /// Rolls back if a transaction is open; a refused ROLLBACK is returned (the transaction
  /// is then still open).
  arrow::Status Rollback();
  /// \brief Leaves the open transaction (a client's) aborted, as a failed statement does in
  /// DuckDB: its writes are discarded, every later statement in it fails until the client
  /// rolls it back, and COMMIT does not commit. Falls back to rolling it back (leaving no
  /// transaction open) if DuckDB kept it valid. Never fails loudly.
  void AbortTransaction();
  /// A transform's input (`options->input`) as the temporary view `input` its statement
  /// reads (Query); `options->input` is then the connection's.
  arrow::Status ReadTransformInput(QueryOptions* options);
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  static arrow::Status ColumnsFromDescribe(const arrow::Table& table,
                                          std::vector<ColumnInfo>* columns);
  /// Fills the typed facts of `columns` (read by DESCRIBE) from `relation`'s scan types.
  arrow::Status TypesFromScan(const std::string& relation, std::vector<ColumnInfo>* columns);
  arrow::Result<TablePass> HoldName(
      const std::string& name, TableUse use,
      const std::shared_ptr<CallCancellation>& cancellation);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arrowport::storage
