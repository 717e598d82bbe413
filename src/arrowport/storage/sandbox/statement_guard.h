#pragma once

// Internal to storage: the SQL sandbox applied wherever a client's SQL is prepared.

#include <duckdb.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/status.h"
#include "arrowport/common/principal.h"
#include "arrowport/storage/core/duckdb_handle.h"
#include "arrowport/storage/core/query_options.h"
#include "arrowport/storage/core/table_gates.h"
#include "arrowport/storage/sandbox/whole_table_read.h"

namespace duckdb {
class ClientContext;
class SQLStatement;
}  // namespace duckdb

namespace arrowport::storage {

struct StatementReads;
class ParseCache;

/// Why transaction-control SQL text (BEGIN, COMMIT, ROLLBACK) from a client is refused.
inline constexpr const char* kTransactionControlRefused =
    "transaction control statements (BEGIN, COMMIT, ROLLBACK, ABORT) are not accepted as "
    "SQL text: each statement runs on its own connection, or on the connection of the "
    "client's Flight SQL transaction, which only the transaction API may end. Use the "
    "client's transaction API (ADBC: autocommit off, then commit()/rollback(); JDBC: "
    "setAutoCommit(false), then commit()/rollback())";

/// \brief Decides whether a caller may run one piece of SQL, by DuckDB's own reading of
/// it (never by matching text), and prepares it when so. The text is parsed once, every
/// check runs on that parse tree, and only then is the tree bound and prepared: the
/// bind-time work of anything refused (a CSV sniff, a glob, a view's expansion) never
/// runs. Everything is refused unless allowed:
///
/// - Exactly one statement per text.
/// - Statement kinds: readers and writers run SELECT (DESCRIBE, SUMMARIZE, SHOW TABLES)
///   and PRAGMA table_info/show/show_tables; admins also DML, CREATE of tables, views,
///   schemas, indexes, sequences and types, ALTER, DROP, COPY ... FROM, EXPLAIN, CALL,
///   VACUUM/ANALYZE. Nothing else, for anybody (ATTACH, SET, LOAD, EXPORT,
///   PREPARE, CREATE MACRO/FUNCTION/SECRET, COPY ... TO, transaction statements, ...).
/// - Table functions: range, generate_series, unnest, repeat, repeat_row, json_each,
///   json_tree, with constant arguments only (CHECKPOINT is the checkpoint action's).
/// - Scalar functions that read the server's settings or variables (current_setting,
///   getvariable, getenv, SHOW <setting>) are refused, except a few harmless settings.
///   Macros (DuckDB's built-in ones: pg_get_viewdef, ...) are expanded and their bodies
///   checked like the statement.
/// - Data-changing statements anywhere (WITH d AS (DELETE ... RETURNING *)): admins only.
/// - Values a constant argument makes larger than `max_value_bytes` (range(1e9),
///   repeat('a', 2e9), lpad/rpad, list_resize) are refused before anything runs.
/// - Tables: nobody reaches the scratch catalog, the `arrowport` schema (the request log)
///   or DuckDB's system catalog (information_schema, pg_catalog, duckdb_* views), also not
///   through a view; a user with a `tables` list reads only those tables of schema main,
///   and views whose tables are all listed (a view that reads files only when listed).
///
/// File and network access and the operator's settings are also closed by DuckDB itself:
/// the database turns external access off and locks its configuration (database.cc).
/// Cheap to make; immutable; use from one thread at a time (like its connection).
class StatementGuard {
 public:
  /// `catalog`: the database's own catalog (DuckDB names it after the file).
  /// `parser_trusted`: the DuckDB library is the one built against, so its C++ parser
  /// may be used; otherwise client SQL is refused. `max_value_bytes`: the largest value
  /// a constant argument may ask for (limits.max_query_memory).
  /// `transform`: the statement is a transform over the connection's temporary view
  /// `input` (QueryOptions::input): it must be one SELECT, and may read that view.
  /// `parses` (may be null): the database's cache of client SQL parses (ParseCache).
  StatementGuard(const Principal& principal, std::string catalog, bool parser_trusted,
                 int64_t max_value_bytes, bool transform = false,
                 ParseCache* parses = nullptr);

  /// \brief What can be known of a transform's text without its input: it parses, and it
  /// is one SELECT (the routing config's transforms are checked so at start and reload).
  static arrow::Status CheckTransformText(duckdb_connection conn, const std::string& sql);

  /// Prepares `sql` on `conn` into `out` when the caller may run it. PermissionDenied
  /// (typed, naming what was refused) when not; DuckDB's own error for bad SQL.
  /// With `at_run` (a statement run once, right away, without parameters): a SELECT that
  /// changes nothing is bound to check it but left to be planned when it runs, and
  /// `*at_run` says so (kSelectAtRun; see PlanAtRun in the .cc); a SELECT * of one base
  /// table (WholeTableRead) is not even bound, and is planned without DuckDB's
  /// optimizer (kTableAtRun; `whole_table`, may be null, receives which table). `out` then
  /// holds a statement whose columns are known only from its result; else `*at_run` is
  /// kPrepared.
  /// `held` (may be null) receives the tables the statement writes or reshapes, to be
  /// held (TableGates) while it runs.
  arrow::Status Prepare(duckdb_connection conn, const std::string& sql, PreparedHandle* out,
                        Planning* at_run = nullptr, std::vector<HeldTable>* held = nullptr,
                        TableIdentity* whole_table = nullptr) const;

  /// \brief Judges `sql`, prepared earlier for this guard's principal, again against the
  /// catalog as it is now: DuckDB binds a prepared statement again at each run, through
  /// what its names mean then (a table an admin replaced with a view over another table).
  /// The tables, views and macros it reads face the checks Prepare made; the rest of them
  /// read the text alone, which has not changed. In `conn`'s open transaction, else an
  /// automatic one. `whole_table` (may be null): which table, while it is (still) a
  /// SELECT * of one base table (WholeTableRead), which is planned without DuckDB's
  /// optimizer; nullopt otherwise.
  /// `unplanned` (may be null): receives the text's statement held unplanned, as Prepare
  /// holds a SELECT it plans at run, for a caller that knows from the prepared statement
  /// that it is a SELECT that changes nothing and has no parameters.
  arrow::Status Rejudge(duckdb_connection conn, const std::string& sql,
                        std::optional<TableIdentity>* whole_table,
                        PreparedHandle* unplanned = nullptr) const;

  /// \brief Whether `sql` is a SELECT * of one base table (with at most a LIMIT and an
  /// OFFSET written as numbers), which Prepare knows to change nothing without binding
  /// it, the table looked up in `conn`'s open transaction (else an automatic one). For
  /// tests: Prepare and Rejudge make the same check on their own parse.
  static arrow::Result<bool> ReadsOneTableWhole(duckdb_connection conn, const std::string& sql);

 private:
  arrow::Status CheckKind(const duckdb::SQLStatement& statement) const;
  arrow::Status CheckCalls(const StatementReads& reads) const;
  arrow::Status CheckWrites(const duckdb::SQLStatement& statement) const;
  /// Data-changing statements anywhere in the tree (a DELETE in a WITH): admins only,
  /// and never the server's state or the system catalog.
  arrow::Status CheckNestedWrites(const StatementReads& reads) const;
  /// The macros the statement calls, expanded as DuckDB will (pg_get_viewdef reads
  /// duckdb_views()): their bodies face the same checks, `depth` macros deep.
  arrow::Status CheckMacros(duckdb::ClientContext& context, const StatementReads& reads,
                            int depth) const;
  // What stores a VARIANT beyond what ReadsOf sees: an ALTER of a table with one (a
  // DEFAULT there is cast into every row an ingest leaves out), in the catalog's
  // transaction; a CREATE TABLE AS whose result has one (DuckDB makes lists into
  // variants unasked: coalesce(v, [[x]])), bound outside it (binding takes the
  // connection's lock, which its transaction's function holds).
  arrow::Status CheckVariantStores(duckdb::ClientContext& context,
                                   const duckdb::SQLStatement& statement) const;
  static arrow::Status CheckCreatedVariants(duckdb::ClientContext& context,
                                            const duckdb::SQLStatement& statement);
  // A recursive statement reads no table with a VARIANT column, through views too.
  arrow::Status CheckNoVariantRecursion(duckdb::ClientContext& context,
                                        const StatementReads& reads, int depth) const;
  /// The tables `reads` names, resolved in the catalog; views are followed `depth` deep.
  arrow::Status CheckTables(duckdb::ClientContext& context, const StatementReads& reads,
                            const std::string& view_catalog, const std::string& view_schema,
                            int depth) const;

  Principal principal_;
  std::string catalog_;
  bool parser_trusted_;
  int64_t max_value_bytes_;
  bool transform_;
  ParseCache* parses_;
};

}  // namespace arrowport::storage
