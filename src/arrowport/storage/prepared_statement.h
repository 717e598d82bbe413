#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/storage/connection.h"

namespace arrowport::storage {

/// Why transaction-control SQL text (BEGIN, COMMIT, ROLLBACK) from a client is refused.
inline constexpr const char* kTransactionControlRefused =
    "transaction control statements (BEGIN, COMMIT, ROLLBACK, ABORT) are not accepted as "
    "SQL text: each statement runs on its own connection, or on the connection of the "
    "client's Flight SQL transaction, which only the transaction API may end. Use the "
    "client's transaction API (ADBC: autocommit off, then commit()/rollback(); JDBC: "
    "setAutoCommit(false), then commit()/rollback())";

/// \brief One DuckDB prepared statement (Flight SQL prepared statements, statement
/// queries): its result and parameter schemas known without running it, parameters bound
/// from Arrow rows, executed as often as the client asks.
///
/// The statement runs on a connection it shares (a session's transaction) or owns.
/// Not thread-safe: callers serialise use of one statement and of its connection.
class PreparedStatement {
 public:
  /// Prepares `sql` on `connection`. A parse or bind error is Invalid (KeyError for an
  /// unknown table), with DuckDB's message. With `principal` (a client's SQL) the SQL
  /// sandbox judges it first: PermissionDenied when that caller may not run it.
  static arrow::Result<std::shared_ptr<PreparedStatement>> Make(
      std::shared_ptr<Connection> connection, const std::string& sql,
      const Principal* principal = nullptr);
  ~PreparedStatement();
  PreparedStatement(const PreparedStatement&) = delete;
  PreparedStatement& operator=(const PreparedStatement&) = delete;

  const std::string& sql() const { return sql_; }
  /// True for statements that return rows (SELECT, EXPLAIN, PRAGMA, CALL, ...); false for
  /// DDL and DML, whose dataset schema is empty.
  bool returns_rows() const { return returns_rows_; }
  /// True when some result column's type depends on the parameters (`SELECT $1`):
  /// dataset_schema() then declares it utf8, and only running tells the real type.
  bool result_types_unresolved() const { return result_types_unresolved_; }
  /// The result schema (empty for DDL/DML).
  const std::shared_ptr<arrow::Schema>& dataset_schema() const { return dataset_schema_; }
  /// One field per parameter ($1, $2, ...), with DuckDB's inferred types; utf8 where
  /// DuckDB cannot tell (e.g. `SELECT $1`).
  const std::shared_ptr<arrow::Schema>& parameter_schema() const { return parameter_schema_; }
  int num_parameters() const;

  /// Binds row `row` of `parameters` (one column per parameter, in order).
  arrow::Status Bind(const arrow::RecordBatch& parameters, int64_t row);
  /// Forgets bound values.
  void ClearBindings();

  /// Runs with the current bindings and streams the result. The reader keeps the
  /// statement (and so its connection) alive; cancelling options.cancellation interrupts.
  static arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Query(
      std::shared_ptr<PreparedStatement> self, const QueryOptions& options);
  /// Runs with the current bindings and returns the rows changed.
  arrow::Result<int64_t> ExecuteUpdate(const std::shared_ptr<CallCancellation>& cancel);

  Connection* connection() const { return connection_.get(); }


 private:
  struct Impl;
  PreparedStatement(std::shared_ptr<Connection> connection, std::string sql,
                    std::unique_ptr<Impl> impl);
  std::shared_ptr<Connection> connection_;
  std::string sql_;
  std::unique_ptr<Impl> impl_;
  bool returns_rows_ = true;
  bool result_types_unresolved_ = false;
  std::shared_ptr<arrow::Schema> dataset_schema_;
  std::shared_ptr<arrow::Schema> parameter_schema_;
};

}  // namespace arrowport::storage
