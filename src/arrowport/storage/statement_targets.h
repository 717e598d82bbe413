#pragma once

// Internal to storage: what a write or DDL statement targets, as DuckDB's parser reads it.

#include <duckdb.h>

#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/storage/duckdb_handle.h"

namespace arrowport::storage {

/// One catalog entry a statement writes, creates, alters or drops, as written (parts
/// the statement leaves out are empty: `DROP TABLE t` has no catalog and no schema).
struct StatementTarget {
  std::string catalog;
  std::string schema;
  std::string name;
  bool is_schema = false;  ///< the entry is a schema (CREATE/DROP/ALTER SCHEMA `name`)
};

/// \brief The entries that the single statement in `sql` writes (INSERT, UPDATE, DELETE,
/// MERGE target, COPY FROM target, EXPLAIN's statement) or creates, alters, drops
/// (CREATE, ALTER incl. COMMENT ON, DROP, CREATE INDEX's table), read by DuckDB's own
/// parser (its C++ API: the C API does not report write targets). Statements that write
/// nothing give an empty list. Invalid when the text is not exactly one statement.
/// Parsed as `connection` parses (its settings and extensions). (COPY ... TO a file needs
/// no target: DuckDB refuses every file write from SQL, see SqlSandboxSettings.)
arrow::Result<std::vector<StatementTarget>> WriteTargets(duckdb_connection connection,
                                                         const std::string& sql);

}  // namespace arrowport::storage

namespace arrowport::storage {

/// \brief The tables the single statement in `sql` reads, qualified as written, views
/// expanded to the tables they read: what `duckdb_get_table_names` reports, found the
/// same way (DuckDB's binder in its name-extracting mode), but also for statements with
/// parameters ($1, ?), which the C API cannot bind without values. `parameters` names
/// them (duckdb_parameter_name); each binds as NULL. DuckDB binds a table function's
/// arguments only when it runs (`query_table($1)`), so a statement whose tables depend
/// on a parameter value fails here (query_table(NULL)) instead of being trusted.
arrow::Result<std::vector<std::string>> ReadTables(duckdb_connection connection,
                                                   const std::string& sql,
                                                   const std::vector<std::string>& parameters);

/// One table function a statement calls (`FROM read_blob(...)`, `CALL checkpoint()`).
struct TableFunctionCall {
  std::string name;            ///< lower-case, as written (without schema)
  bool has_parameter = false;  ///< an argument depends on a query parameter ($1, ?)
};

/// \brief What the single statement in `sql` does that its type and tables do not show,
/// read by DuckDB's parser: the table functions it calls anywhere (subqueries, CTEs,
/// joins, INSERT ... SELECT, the reads of UPDATE/DELETE/MERGE, EXPLAIN's statement, CALL)
/// and whether it is a COPY ... TO (a file write).
struct StatementEffects {
  std::vector<TableFunctionCall> table_functions;
  bool copies_to_file = false;
};
arrow::Result<StatementEffects> ReadEffects(duckdb_connection connection, const std::string& sql);

/// True when `connection` has a transaction open (the C API cannot tell), an automatic
/// one (a statement or streaming result in progress) included.
bool InTransaction(duckdb_connection connection);

/// \brief The result columns of the single statement in `sql` (prepared as `prepared`
/// on `connection`) with the types of `prepared`'s bound values, as DuckDB binds it to run
/// it with them: bound only, never planned or run, so a statement that writes writes
/// nothing, and the connection's transaction is left as it was.
arrow::Status BoundResultColumns(duckdb_connection connection,
                                 duckdb_prepared_statement prepared, const std::string& sql,
                                 std::vector<LogicalTypeHandle>* types,
                                 std::vector<std::string>* names);

/// True when the single statement in `sql` (INSERT, UPDATE, DELETE, MERGE) has a
/// RETURNING clause, by DuckDB's parser.
arrow::Result<bool> HasReturning(duckdb_connection connection, const std::string& sql);

/// True when `connection` has an explicit transaction open (BEGIN without its COMMIT or
/// ROLLBACK yet; aborted ones included).
bool ExplicitTransactionOpen(duckdb_connection connection);

/// \brief Splits a qualified name as DuckDB writes it (`duckdb_get_table_names` with
/// qualified names: escaped `catalog.schema.table`, fewer parts when the query left them
/// out) with DuckDB's own parser. Two parts are schema and name, one part a name.
arrow::Result<StatementTarget> ParseQualifiedName(const std::string& text);

}  // namespace arrowport::storage
