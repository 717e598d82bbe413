#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::storage {

/// \brief One DuckDB prepared statement (Flight SQL prepared statements, statement
/// queries): its result and parameter schemas known without running it, parameters bound
/// from Arrow rows, executed as often as the client asks.
///
/// It lives on a SharedConnection (its own, or a session's or transaction's, which other
/// statements share) and is used only under a lease of that connection: every call that
/// binds, describes or runs it takes that lease, which serialises it with everything
/// else on the connection. Calls with another connection's lease are refused.
class PreparedStatement {
 public:
  /// Prepares `sql` on the lease's connection. A parse or bind error is Invalid (KeyError
  /// for an unknown table), with DuckDB's message. With `principal` (a client's SQL) the
  /// SQL sandbox judges it first: PermissionDenied when that caller may not run it.
  /// Planning is interrupted when `cancellation` is cancelled (binding a lake view reads
  /// its files' footers from the store).
  static arrow::Result<std::shared_ptr<PreparedStatement>> Make(
      ConnectionLease& lease, const std::string& sql, const Principal* principal = nullptr,
      const std::shared_ptr<CallCancellation>& cancellation = nullptr);
  ~PreparedStatement();
  PreparedStatement(const PreparedStatement&) = delete;
  PreparedStatement& operator=(const PreparedStatement&) = delete;

  const std::string& sql() const { return sql_; }
  /// The connection it runs on (lease it to use the statement).
  const std::shared_ptr<SharedConnection>& connection() const { return connection_; }
  /// True for statements that return rows (SELECT, EXPLAIN, PRAGMA, CALL, ...); false for
  /// DDL and DML, whose dataset schema is empty.
  bool returns_rows() const { return returns_rows_; }
  /// True for a statement that only reads (SELECT and the like): DuckDB's statement type
  /// is SELECT. INSERT ... RETURNING and other writes that return rows are false.
  bool read_only() const { return read_only_; }
  /// True when some result column's type depends on the parameters (`SELECT $1`):
  /// dataset_schema() then declares it utf8; ResultSchemaWithBindings() tells the type.
  bool result_types_unresolved() const { return result_types_unresolved_; }
  /// The result schema (empty for DDL/DML).
  const std::shared_ptr<arrow::Schema>& dataset_schema() const { return dataset_schema_; }
  /// What DuckDB holds for the statement while it is open, as counted when it was
  /// prepared: its plan, twice for a read of one table whole, whose connection keeps a
  /// second plan to run it by (TableReadPlans).
  int64_t held_plan_bytes() const { return held_plan_bytes_; }
  /// One field per parameter ($1, $2, ...), with DuckDB's inferred types; utf8 where
  /// DuckDB cannot tell (e.g. `SELECT $1`).
  const std::shared_ptr<arrow::Schema>& parameter_schema() const { return parameter_schema_; }
  int num_parameters() const;

  /// Binds row `row` of `parameters` (one column per parameter, in order).
  arrow::Status Bind(ConnectionLease& lease, const arrow::RecordBatch& parameters,
                     int64_t row);
  /// Forgets bound values.
  arrow::Status ClearBindings(ConnectionLease& lease);

  /// \brief The result schema with the current bindings' types, without running the
  /// statement: DuckDB binds it with them (as running it would) and nothing more, so a
  /// statement that writes writes nothing here.
  arrow::Result<std::shared_ptr<arrow::Schema>> ResultSchemaWithBindings(
      ConnectionLease& lease);

  /// Runs with the current bindings and streams the result. The reader keeps the
  /// statement alive but not the lease: it must not outlive `lease` (MakeLeasedReader
  /// hands both to the caller); cancelling options.cancellation interrupts.
  static arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Query(
      std::shared_ptr<PreparedStatement> self, ConnectionLease& lease,
      const QueryOptions& options);
  /// Runs with the current bindings and returns the rows changed.
  arrow::Result<int64_t> ExecuteUpdate(ConnectionLease& lease,
                                       const std::shared_ptr<CallCancellation>& cancel);

 private:
  struct Impl;
  class ReadSnapshot;
  PreparedStatement(std::shared_ptr<SharedConnection> connection, std::string sql,
                    std::unique_ptr<Impl> impl);
  /// Invalid unless `lease` is a lease of this statement's connection.
  arrow::Status CheckLease(const ConnectionLease& lease) const;
  std::shared_ptr<SharedConnection> connection_;
  std::string sql_;
  std::unique_ptr<Impl> impl_;
  bool returns_rows_ = true;
  bool read_only_ = false;
  bool result_types_unresolved_ = false;
  int64_t held_plan_bytes_ = 0;
  std::shared_ptr<arrow::Schema> dataset_schema_;
  std::shared_ptr<arrow::Schema> parameter_schema_;
};

}  // namespace arrowport::storage
