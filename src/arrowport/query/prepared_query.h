#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/query/session_connection.h"

namespace arrowport {
class CallCancellation;
struct Principal;
}  // namespace arrowport

namespace arrowport::storage {
class PreparedStatement;
}

namespace arrowport::query {

class SessionConnection;
class SessionLease;

/// What a prepared statement holds while open, per byte of its SQL text: DuckDB keeps
/// its parsed and planned form (storage's estimate).
extern const int64_t kPreparedBytesPerSqlByte;

/// \brief A client's prepared statement (Flight SQL prepared statements and statement
/// queries) on a SessionConnection: its result and parameter schemas known without
/// running it, parameters bound from Arrow rows, run as often as the client asks. It
/// keeps the connection it was prepared on, and every call that binds, describes or runs
/// it takes a lease of that connection (a lease of another connection is refused).
/// QueryPipeline::ExecutePrepared streams its result.
class PreparedQuery {
 public:
  /// Prepares `sql` on the lease's connection. With `principal` (a client's SQL) the SQL
  /// sandbox judges it first: PermissionDenied when that caller may not run it. A parse
  /// or bind error is Invalid (KeyError for an unknown table).
  /// Planning obeys `cancellation` (PreparedStatement::Make).
  static arrow::Result<std::shared_ptr<PreparedQuery>> Make(
      SessionLease& lease, const std::string& sql, const Principal* principal,
      const std::shared_ptr<CallCancellation>& cancellation = nullptr);
  ~PreparedQuery();
  PreparedQuery(const PreparedQuery&) = delete;
  PreparedQuery& operator=(const PreparedQuery&) = delete;

  const std::string& sql() const;
  /// The connection it runs on (lease it to use the statement).
  const std::shared_ptr<SessionConnection>& connection() const { return connection_; }
  /// True for statements that return rows; false for DDL and DML.
  bool returns_rows() const;
  /// True for a statement that only reads (INSERT ... RETURNING is false).
  bool read_only() const;
  /// True when a result column's type depends on the parameters (`SELECT $1`).
  bool result_types_unresolved() const;
  /// The result schema (empty for DDL/DML).
  const std::shared_ptr<arrow::Schema>& dataset_schema() const;
  /// What DuckDB holds for it while it is open (storage::PreparedStatement).
  int64_t held_plan_bytes() const;
  /// One field per parameter ($1, $2, ...).
  const std::shared_ptr<arrow::Schema>& parameter_schema() const;
  int num_parameters() const;

  /// Binds row `row` of `parameters` (one column per parameter, in order).
  arrow::Status Bind(SessionLease& lease, const arrow::RecordBatch& parameters,
                     int64_t row);
  /// Forgets bound values.
  arrow::Status ClearBindings(SessionLease& lease);
  /// The result schema with the current bindings' types, without running the statement.
  arrow::Result<std::shared_ptr<arrow::Schema>> ResultSchemaWithBindings(
      SessionLease& lease);
  /// Runs with the current bindings and returns the rows changed.
  arrow::Result<int64_t> ExecuteUpdate(SessionLease& lease,
                                       const std::shared_ptr<CallCancellation>& cancel);

  /// Invalid when it has parameters and `params` holds no row to bind.
  arrow::Status RequireBinding(const arrow::RecordBatch* params) const;
  /// Invalid when `params` has not one column per parameter.
  arrow::Status CheckParameters(const arrow::RecordBatch& params) const;

  /// The statement underneath, for the pipelines only.
  const std::shared_ptr<storage::PreparedStatement>& storage_statement(StorageAccess) const {
    return statement_;
  }

 private:
  PreparedQuery(std::shared_ptr<SessionConnection> connection,
                std::shared_ptr<storage::PreparedStatement> statement);
  std::shared_ptr<SessionConnection> connection_;
  std::shared_ptr<storage::PreparedStatement> statement_;
};

}  // namespace arrowport::query
