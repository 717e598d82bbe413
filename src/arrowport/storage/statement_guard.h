#pragma once

// Internal to storage: the SQL sandbox applied wherever a client's SQL is prepared.

#include <duckdb.h>

#include <memory>
#include <string>

#include "arrow/status.h"
#include "arrowport/common/principal.h"
#include "arrowport/storage/duckdb_handle.h"

namespace arrowport::storage {

/// \brief Decides whether a caller may run one piece of SQL, by DuckDB's own reading of
/// it (never by matching text), and prepares it when so.
///
/// - Exactly one statement per text: DuckDB's C API runs all but the last statement of
///   a multi-statement text while preparing it, before any check could see them.
/// - By DuckDB's statement type: readers and writers run only SELECT (PRAGMAs DuckDB
///   rewrites to SELECT included); admins also DML, DDL, COPY, EXPLAIN, CALL, VACUUM,
///   ANALYZE. Nobody runs ATTACH, DETACH, INSTALL/LOAD, SET/RESET/USE (also PRAGMA
///   name=value), other PRAGMAs (COPY FROM DATABASE prepares as one), EXPORT,
///   PREPARE/EXECUTE, or transaction statements (Flight SQL has its own actions).
/// - By the tables it reads (`duckdb_get_table_names`, views expanded to their tables)
///   and the entries it writes/creates/alters/drops (DuckDB's parser): nobody reaches
///   the scratch catalog or the `arrowport` schema (the request log); a user with a
///   `tables` list reads only those tables of schema main.
///
/// File and network access and the operator's settings are not judged here: the database
/// turns external access off and locks its configuration (database.cc).
/// Cheap to make; immutable; use from one thread at a time (like its connection).
class StatementGuard {
 public:
  /// `catalog`: the database's own catalog (DuckDB names it after the file).
  /// `parser_trusted`: the DuckDB library is the one built against, so its C++ parser
  /// (write targets) may be used; otherwise statements that write are refused.
  StatementGuard(const Principal& principal, std::string catalog, bool parser_trusted);

  /// Prepares `sql` on `conn` into `out` when the caller may run it. PermissionDenied
  /// (typed, naming what was refused) when not; DuckDB's own error for bad SQL.
  arrow::Status Prepare(duckdb_connection conn, const std::string& sql,
                        PreparedHandle* out) const;

 private:
  arrow::Status CheckType(duckdb_statement_type type) const;
  arrow::Status CheckReads(duckdb_connection conn, duckdb_prepared_statement prepared,
                           const std::string& sql, duckdb_statement_type type) const;
  /// Table functions (file readers, query/query_table, checkpoint, storage statistics,
  /// arguments that depend on a parameter) and COPY ... TO: refused for every role.
  arrow::Status CheckEffects(duckdb_connection conn, const std::string& sql) const;
  arrow::Status CheckWrites(duckdb_connection conn, const std::string& sql,
                            duckdb_statement_type type) const;

  Principal principal_;
  std::string catalog_;
  bool parser_trusted_;
};

}  // namespace arrowport::storage
