#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include <functional>

#include "arrowport/common/call_context.h"
#include "arrowport/storage/core/column_info.h"  // TableInfo: plain data

namespace arrowport::metrics {
class ServerMetrics;
}
namespace arrowport::storage {
class Connection;
class Database;
}  // namespace arrowport::storage

namespace arrowport::query {

class PreparedQuery;
class SessionConnection;
class SessionLease;

/// A table or view that can be read (ListTables).
using TableInfo = storage::TableInfo;

/// A read request: SQL text, or a whole table by (validated) name.
struct QueryRequest {
  std::string sql;
  std::string table;
  std::vector<std::string> parameters;  ///< bound to $1, $2, ...
  std::vector<std::string> columns;     ///< with `table`: validated column names (empty = *)
  std::optional<int64_t> limit;         ///< with `table`: LIMIT
  /// With `table` (a lake table): one of `parts` disjoint groups of the files of its
  /// snapshot `version`, as GetFlightInfo's endpoints hand them out.
  struct LakePart {
    int64_t version = 0;
    int part = 0;
    int parts = 1;
    /// The table's id (Delta metaData.id, DuckLake table_uuid) where the snapshot was
    /// planned ("": not said): a node whose config routes the name to another table
    /// refuses the part rather than read that table's version.
    std::string table_id;
    /// The ticket was sealed by a node of the cluster (never read from a ticket's text):
    /// its snapshot may be one this node has still to read.
    bool from_cluster = false;
  };
  std::optional<LakePart> lake_part;
  /// With `table` (a DuckDB table): the rows whose row ids are in [begin, end) of the
  /// table as GetFlightInfo saw it (storage::TableExtent: its identity and shape, and its
  /// `table_rows` rows below `table_rowid_end`). A table replaced, altered, or whose rows
  /// were deleted, moved or renumbered since is refused, never read across two states.
  struct RowPart {
    int64_t begin = 0;
    int64_t end = 0;
    int64_t table_oid = 0;
    int64_t table_shape = 0;
    int64_t table_rows = 0;
    int64_t table_rowid_end = 0;
  };
  std::optional<RowPart> row_part;

  /// The SQL that runs: `sql`, or a quoted SELECT * of `table`.
  std::string ToSql() const;
};

/// The ticket text of `request` (ParseTicket reads it back).
std::string TicketOf(const QueryRequest& request);

/// One ticket per part of a lake table's `layout`: endpoints that clients fetching in
/// parallel (ADBC, Spark) read at once; each row is in exactly one, all of one snapshot.
std::vector<std::string> LakeTickets(const std::string& table,
                                     const QueryRequest::LakePart& layout);

/// How a read is handed out (GetFlightInfo's endpoints): one ticket each.
struct ReadPlan {
  std::vector<std::string> tickets;
  /// Each ticket reads the same rows on every node of a cluster (a lake snapshot's parts),
  /// so its endpoint may name other nodes.
  bool anywhere = false;
  bool ordered = true;  ///< the tickets' rows, read one after another, are the result's order
  int64_t rows = -1;    ///< the rows in all, when known
};

/// When a whole DuckDB table is read in row ranges (GetFlightInfo endpoints).
struct TableSplit {
  int max_parts = 1;                  ///< 1 = never split (the server sets config's)
  int64_t rows_per_part = 1'048'576;  ///< fewer rows than this: one endpoint
};

/// How lake tables are read in parts (the server's lake service provides it).
struct LakeReads {
  /// The table's latest snapshot version and how many parts its files make (nullopt:
  /// not a lake table, or one part).
  std::function<std::optional<QueryRequest::LakePart>(const std::string& table)> layout;
  /// The SQL reading one part (files named by the server, never by the client).
  std::function<arrow::Result<std::string>(const std::string& table,
                                           const QueryRequest::LakePart& part)>
      part_sql;
  /// Brings the views of the lake tables a query names (its SQL or table) to their
  /// latest snapshot before it runs: other nodes' commits are seen at once. An error
  /// when the query must not run over the view it has (a catalog locked by another
  /// process: what it reads is being changed).
  std::function<arrow::Status(const std::string& sql_or_table)> refresh;
};

/// A client's prepared write, run by QueryPipeline::ExecuteUpdate once per parameter row.
struct PreparedWrite {
  std::shared_ptr<PreparedQuery> statement;
  /// The parameter rows, a batch at a time until null; with none at all it runs once
  /// (refused when it has parameters).
  std::function<arrow::Result<std::shared_ptr<arrow::RecordBatch>>()> next_rows;
  /// Several rows are all or nothing, unless the client's transaction decides.
  bool all_or_nothing = true;
};

/// \brief Parses a Flight ticket or CMD descriptor: JSON `{"sql": ...}` / `{"table": ...}`
/// (optional "params": [...]) or plain SQL text.
arrow::Result<QueryRequest> ParseTicket(const std::string& ticket);

/// \brief The one read path shared by every protocol: runs SQL in DuckDB and streams the
/// result out as Arrow batches. Thread-safe: each call uses its own connection.
class QueryPipeline {
 public:
  /// Rows per result batch unless told otherwise: DuckDB's row group.
  static constexpr int64_t kDefaultBatchRows = 122880;

  /// Results are counted in `metrics` when set (see MeterResult).
  explicit QueryPipeline(storage::Database* database, int64_t batch_rows = kDefaultBatchRows,
                         metrics::ServerMetrics* metrics = nullptr);

  /// Result schema without running the query (KeyError for an unknown table). The SQL
  /// sandbox judges it for `call`'s principal, as Execute does.
  arrow::Result<std::shared_ptr<arrow::Schema>> Describe(const QueryRequest& request,
                                                         const CallContext& call = {});

  /// Starts the query; rows are produced as the reader is pulled. Cancelling
  /// `call.cancellation` interrupts it, before or after the first row. The SQL sandbox
  /// (storage/sandbox/statement_guard.h) judges it for `call.principal` (none: anonymous
  /// admin).
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Execute(const QueryRequest& request,
                                                                   const CallContext& call = {});

  // Verbs on a session: a client's connection that outlives the call (a Flight SQL
  // transaction's, a pinned session's, a prepared statement's), used under its lease
  // (session_queries.cc). A client's SQL is judged by the SQL sandbox for `call`'s
  // principal, the lake tables it names are brought up to date first (as Execute does),
  // and its end is metered like Execute's: no caller has to remember any of it.

  /// \brief A connection of its own that outlives the call: used only through its leases.
  arrow::Result<std::shared_ptr<SessionConnection>> OpenSession();
  /// \brief BEGIN TRANSACTION. `holder` names who it holds tables for: told to a writer
  /// that waits for one of them in vain (storage::TableHolder).
  static arrow::Status Begin(SessionLease& lease, std::string holder = "");
  /// COMMIT; a failed commit leaves no transaction open (see storage::ConnectionLease).
  static arrow::Status Commit(SessionLease& lease);
  /// ROLLBACK when a transaction is open; its failure is returned, never swallowed.
  static arrow::Status Rollback(SessionLease& lease);
  /// ROLLBACK; when refused, the connection is closed as the lease ends (which rolls
  /// back) and later Acquires are refused. Returns the ROLLBACK's error.
  static arrow::Status RollbackOrDiscard(SessionLease& lease);
  /// True while an explicit transaction is open on the connection.
  static bool InTransaction(const SessionLease& lease);
  /// OK while the open transaction can still commit; an error when an earlier failed
  /// statement aborted it (DuckDB would answer COMMIT by rolling back silently).
  static arrow::Status CheckTransactionAlive(SessionLease& lease);

  /// \brief Prepares a client's `sql` on the leased connection (planning obeys the call's
  /// cancellation). PermissionDenied when the sandbox refuses it.
  arrow::Result<std::shared_ptr<PreparedQuery>> Prepare(SessionLease& lease,
                                                        const std::string& sql,
                                                        const CallContext& call) const;
  /// \brief Runs a client's query `sql` on the leased connection, in its transaction if
  /// one is open. The reader owns `lease` until its last batch.
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Execute(
      SessionLease lease, const std::string& sql, const CallContext& call,
      int64_t batch_rows = kDefaultBatchRows);
  /// \brief Runs the prepared `statement` once per row of `params` (none: once), the
  /// results one after another, under `lease` of its connection, which the reader
  /// owns until its last batch. Outside a client transaction several rows run in one
  /// transaction of their own, committed when the stream ends; a stream stopped early
  /// keeps none of their writes (see prepared_query.cc). `holder` (may be null: what
  /// holds the statement open, with its memory charges) lives as long as the reader.
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ExecutePrepared(
      std::shared_ptr<PreparedQuery> statement, std::shared_ptr<arrow::RecordBatch> params,
      SessionLease lease, const CallContext& call, int64_t batch_rows = kDefaultBatchRows,
      std::shared_ptr<void> holder = nullptr);
  /// \brief Runs a client's DDL or DML `sql` (one statement: the sandbox refuses
  /// transaction control and scripts) and ends it; returns the rows changed. Cancelling
  /// the call interrupts it.
  ///
  /// Without a client transaction open on the lease it runs in one of its own, committed
  /// only when the call can still be answered (its cancellation, TooLateToKeep): DuckDB's
  /// autocommit would keep a write whose client is told DEADLINE_EXCEEDED, or has left,
  /// and a client that retries it would apply it twice. In the client's transaction, a
  /// write whose call is gone aborts the transaction, so that it never commits with it
  /// later. Every commit is noted (NoteCommitted).
  arrow::Result<int64_t> ExecuteUpdate(SessionLease& lease, const std::string& sql,
                                       const CallContext& call);
  /// \brief Runs a prepared write once per parameter row, and ends it as the SQL
  /// ExecuteUpdate does; with `write.all_or_nothing`, any failure also aborts the
  /// client's transaction (some rows may have run).
  arrow::Result<int64_t> ExecuteUpdate(SessionLease& lease, const PreparedWrite& write,
                                       const CallContext& call);
  /// \brief The plan of a client's `sql` when it reads a whole table that is read by
  /// several endpoints (WholeTableOf, PlanRead), the lake view brought up to date first;
  /// nullopt for anything else (one ticket).
  arrow::Result<std::optional<ReadPlan>> PlanWholeTableRead(const std::string& sql,
                                                            const CallContext& call);

  /// A result made outside Execute counted like Execute's, for `call`'s protocol.
  std::shared_ptr<arrow::RecordBatchReader> Metered(
      std::shared_ptr<arrow::RecordBatchReader> reader, const CallContext& call,
      std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now()) const;

  /// Lets tickets read lake tables in parts (see QueryRequest::lake_part).
  void EnableLakeReads(LakeReads reads) { lake_reads_ = std::move(reads); }
  /// The parts of `table` when it is a lake table of several files (nullopt otherwise).
  std::optional<QueryRequest::LakePart> LakeLayout(const std::string& table) const;

  /// How whole DuckDB tables are split into endpoints (config flight.max_endpoints,
  /// flight.endpoint_rows).
  void SetTableSplit(TableSplit split) { table_split_ = split; }
  /// \brief The tickets `request` is read by: a whole lake table of several files one per
  /// group of files (unordered), a whole DuckDB table of more than rows_per_part rows one
  /// per row-id range (in order, so a client reading them one by one gets the table's
  /// order), anything else its own ticket. Each row present when it is planned is in
  /// exactly one ticket while the table is only appended to (rows appended later are in
  /// none; a replaced table's tickets are refused; rows deleted, or renumbered by a
  /// CHECKPOINT that vacuums deletes, between planning and reading may be missed or read
  /// twice). `count_rows`: also count a table read by one ticket (ReadPlan::rows); the
  /// count (of a lake table: its files' footers, from the store) ends when `cancellation`
  /// (may be null) is cancelled, and the plan then has no count.
  /// Never fails: what cannot be planned is read by one ticket.
  ReadPlan PlanRead(const QueryRequest& request, bool count_rows,
                    const std::shared_ptr<CallCancellation>& cancellation = nullptr);

  /// Tables and views that can be read.
  arrow::Result<std::vector<TableInfo>> ListTables();

  /// Row count of a table (exact).
  arrow::Result<int64_t> CountRows(const std::string& table);

 private:
  /// The SQL of a RowPart request, once its table is still the one the part was cut from.
  arrow::Result<std::string> RowPartSql(storage::Connection* conn, const QueryRequest& request);
  /// \brief Brings the lake tables `request` reads (its SQL or table) up to date, when
  /// lake reads are on. A store that fails leaves the views as they were (logged); the
  /// call's own end (its client, deadline, the server's shutdown) met meanwhile is
  /// returned: the call stops.
  [[nodiscard]] arrow::Status RefreshLakes(const QueryRequest& request,
                                           const CallContext& call) const;
  [[nodiscard]] arrow::Status RefreshLakesNamedIn(const std::string& sql,
                                                  const CallContext& call) const;
  /// Counts what `call` ran that ended with no result to meter (a write, or a query
  /// refused or failed before its first row), begun at `start`; the server's own, without
  /// a protocol, is not counted.
  void MeterEnded(const CallContext& call, std::chrono::steady_clock::time_point start,
                  bool ok) const;
  /// KeyError when `request` names a table that does not exist.
  arrow::Status CheckTable(storage::Connection* conn, const QueryRequest& request);
  storage::Database* database_;
  int64_t batch_rows_;
  metrics::ServerMetrics* const metrics_;  // null: not counted
  LakeReads lake_reads_;
  TableSplit table_split_;
};

}  // namespace arrowport::query
