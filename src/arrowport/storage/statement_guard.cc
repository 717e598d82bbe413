#include "arrowport/storage/statement_guard.h"

#include <strings.h>

#include <vector>

#include "arrowport/common/status_detail.h"
#include "arrowport/storage/duckdb_error.h"
#include "arrowport/storage/prepared_statement.h"
#include "arrowport/storage/statement_targets.h"

namespace arrowport::storage {

namespace {

// The server's own state (see connection_impl.h and request_log.cc).
constexpr const char* kScratch = "arrowport_scratch";
constexpr const char* kStateSchema = "arrowport";

using ExtractedHandle = Handle<duckdb_extracted_statements, &duckdb_destroy_extracted>;
using ValueHandle = Handle<duckdb_value, &duckdb_destroy_value>;

bool Same(const std::string& a, const char* b) { return strcasecmp(a.c_str(), b) == 0; }

const char* TypeName(duckdb_statement_type type) {
  switch (type) {
    case DUCKDB_STATEMENT_TYPE_SELECT: return "SELECT";
    case DUCKDB_STATEMENT_TYPE_INSERT: return "INSERT";
    case DUCKDB_STATEMENT_TYPE_UPDATE: return "UPDATE";
    case DUCKDB_STATEMENT_TYPE_EXPLAIN: return "EXPLAIN";
    case DUCKDB_STATEMENT_TYPE_DELETE: return "DELETE";
    case DUCKDB_STATEMENT_TYPE_PREPARE: return "PREPARE";
    case DUCKDB_STATEMENT_TYPE_CREATE: return "CREATE";
    case DUCKDB_STATEMENT_TYPE_EXECUTE: return "EXECUTE";
    case DUCKDB_STATEMENT_TYPE_ALTER: return "ALTER";
    case DUCKDB_STATEMENT_TYPE_TRANSACTION: return "a transaction statement";
    case DUCKDB_STATEMENT_TYPE_COPY: return "COPY";
    case DUCKDB_STATEMENT_TYPE_ANALYZE: return "ANALYZE";
    case DUCKDB_STATEMENT_TYPE_VARIABLE_SET: return "SET VARIABLE";
    case DUCKDB_STATEMENT_TYPE_CREATE_FUNC: return "CREATE FUNCTION";
    case DUCKDB_STATEMENT_TYPE_DROP: return "DROP";
    case DUCKDB_STATEMENT_TYPE_EXPORT: return "EXPORT";
    case DUCKDB_STATEMENT_TYPE_PRAGMA: return "PRAGMA";
    case DUCKDB_STATEMENT_TYPE_VACUUM: return "VACUUM";
    case DUCKDB_STATEMENT_TYPE_CALL: return "CALL";
    case DUCKDB_STATEMENT_TYPE_SET: return "SET/RESET/USE";
    case DUCKDB_STATEMENT_TYPE_LOAD: return "INSTALL/LOAD";
    case DUCKDB_STATEMENT_TYPE_ATTACH: return "ATTACH";
    case DUCKDB_STATEMENT_TYPE_DETACH: return "DETACH";
    case DUCKDB_STATEMENT_TYPE_COPY_DATABASE: return "COPY DATABASE";
    case DUCKDB_STATEMENT_TYPE_UPDATE_EXTENSIONS: return "UPDATE EXTENSIONS";
    case DUCKDB_STATEMENT_TYPE_MERGE_INTO: return "MERGE INTO";
    default: return "this kind of statement";
  }
}

// What an admin may run besides SELECT. Everything else is refused for everyone.
bool AdminOnly(duckdb_statement_type type) {
  switch (type) {
    case DUCKDB_STATEMENT_TYPE_INSERT:
    case DUCKDB_STATEMENT_TYPE_UPDATE:
    case DUCKDB_STATEMENT_TYPE_DELETE:
    case DUCKDB_STATEMENT_TYPE_MERGE_INTO:
    case DUCKDB_STATEMENT_TYPE_CREATE:
    case DUCKDB_STATEMENT_TYPE_CREATE_FUNC:
    case DUCKDB_STATEMENT_TYPE_ALTER:
    case DUCKDB_STATEMENT_TYPE_DROP:
    case DUCKDB_STATEMENT_TYPE_COPY:
    case DUCKDB_STATEMENT_TYPE_EXPLAIN:  // EXPLAIN ANALYZE runs its statement
    case DUCKDB_STATEMENT_TYPE_CALL:  // table functions, as in SELECT * FROM f()
    case DUCKDB_STATEMENT_TYPE_VACUUM:
    case DUCKDB_STATEMENT_TYPE_ANALYZE:
      return true;
    default:
      return false;
  }
}

// Statements that may write or change the catalog: their targets are checked.
bool Writes(duckdb_statement_type type) {
  return type != DUCKDB_STATEMENT_TYPE_SELECT && type != DUCKDB_STATEMENT_TYPE_CALL &&
         type != DUCKDB_STATEMENT_TYPE_VACUUM && type != DUCKDB_STATEMENT_TYPE_ANALYZE;
}

std::string Describe(const StatementTarget& t) {
  std::string out;
  for (const auto* part : {&t.catalog, &t.schema, &t.name}) {
    if (part->empty()) continue;
    if (!out.empty()) out += ".";
    out += *part;
  }
  return out;
}

// The scratch catalog (views over in-flight ingest streams) and schema `arrowport` (the
// request log) whichever way a statement names them: DuckDB reads `a.b` as schema a or,
// failing that, catalog a, so both positions count.
bool IsServerState(const StatementTarget& t) {
  if (Same(t.catalog, kScratch) || Same(t.schema, kScratch)) return true;
  if (Same(t.schema, kStateSchema)) return true;
  if (t.schema.empty() && Same(t.catalog, kStateSchema)) return true;
  if (t.is_schema && (Same(t.name, kStateSchema) || Same(t.name, kScratch))) return true;
  return false;
}

}  // namespace

StatementGuard::StatementGuard(const Principal& principal, std::string catalog,
                               bool parser_trusted)
    : principal_(principal), catalog_(std::move(catalog)), parser_trusted_(parser_trusted) {}

arrow::Status StatementGuard::Prepare(duckdb_connection conn, const std::string& sql,
                                      PreparedHandle* out) const {
  ExtractedHandle extracted;
  const idx_t count = duckdb_extract_statements(conn, sql.c_str(), extracted.out());
  if (count == 0) {
    const char* error = duckdb_extract_statements_error(extracted.get());
    return TranslateDuckDBError(-1, error ? error : "no SQL statement in the text");
  }
  if (count > 1) {
    return PermissionDenied("SQL sandbox: the text holds ", count,
                            " statements; send one statement per request");
  }
  if (duckdb_prepare_extracted_statement(conn, extracted.get(), 0, out->out()) ==
      DuckDBError) {
    const char* error = duckdb_prepare_error(out->get());
    return TranslateDuckDBError(-1, error ? error : "cannot prepare statement");
  }
  const duckdb_statement_type type = duckdb_prepared_statement_type(out->get());
  arrow::Status st = CheckType(type);
  if (st.ok()) st = CheckEffects(conn, sql);
  if (st.ok()) st = CheckReads(conn, out->get(), sql, type);
  if (st.ok()) st = CheckWrites(conn, sql, type);
  if (!st.ok()) out->reset();
  return st;
}

arrow::Status StatementGuard::CheckType(duckdb_statement_type type) const {
  if (type == DUCKDB_STATEMENT_TYPE_SELECT) return arrow::Status::OK();
  // Not a matter of rights: a client's statement runs on a connection whose transaction
  // only the server (or the Flight SQL transaction API) may end.
  if (type == DUCKDB_STATEMENT_TYPE_TRANSACTION) {
    return arrow::Status::Invalid(kTransactionControlRefused);
  }
  if (AdminOnly(type)) {
    if (principal_.IsAdmin()) return arrow::Status::OK();
    return PermissionDenied("SQL sandbox: ", TypeName(type), " is refused for user '",
                            principal_.user, "' (role ",
                            principal_.CanWrite() ? "writer" : "reader",
                            "): only SELECT statements are allowed; ingest writes data");
  }
  return PermissionDenied("SQL sandbox: ", TypeName(type),
                          " statements are refused for every user: they would reach the "
                          "server's files, settings, extensions or other databases");
}

arrow::Status StatementGuard::CheckReads(duckdb_connection conn,
                                         duckdb_prepared_statement prepared,
                                         const std::string& sql,
                                         duckdb_statement_type type) const {
  // DuckDB's binder in its name-extracting mode, through the C++ API (it binds
  // parameters) when this is the library built against.
  std::vector<std::string> parameters;
  for (idx_t i = 1; i <= duckdb_nparams(prepared); ++i) {
    const char* name = duckdb_parameter_name(prepared, i);
    parameters.emplace_back(name ? name : std::to_string(i));
    if (name) duckdb_free(const_cast<char*>(name));
  }
  arrow::Result<std::vector<std::string>> read =
      parser_trusted_ ? ReadTables(conn, sql, parameters)
                      : arrow::Status::Invalid("the DuckDB library is not the one built against");
  // The C API's call does the same for statements without parameters and also through
  // DuckDB's PRAGMA rewriting (PRAGMA table_info), but a failure there would abort a
  // transaction the client has open.
  if (!read.ok() && parameters.empty() && !InTransaction(conn)) {
    ValueHandle names(duckdb_get_table_names(conn, sql.c_str(), /*qualified=*/true));
    if (names.get() != nullptr) {
      std::vector<std::string> listed;
      const idx_t n = duckdb_get_list_size(names.get());
      for (idx_t i = 0; i < n; ++i) {
        ValueHandle item(duckdb_get_list_child(names.get(), i));
        char* raw = duckdb_get_varchar(item.get());
        listed.emplace_back(raw ? raw : "");
        if (raw) duckdb_free(raw);
      }
      read = std::move(listed);
    }
  }
  std::vector<std::string> tables;
  if (read.ok()) {
    tables = std::move(*read);
  } else if (type == DUCKDB_STATEMENT_TYPE_SELECT || !principal_.IsAdmin()) {
    return PermissionDenied("SQL sandbox: cannot tell which tables the statement reads (",
                            read.status().message(), ")");
  }
  // else: DuckDB cannot list what some UPDATE/DELETE/MERGE read; their targets are
  // checked from the parser (CheckWrites), and only admins run them.
  for (const auto& text : tables) {
    ARROW_ASSIGN_OR_RAISE(auto table, ParseQualifiedName(text));
    if (IsServerState(table)) {
      return PermissionDenied("SQL sandbox: '", text,
                              "' is the server's own state (request log or scratch catalog) "
                              "and cannot be read or written through SQL");
    }
    if (principal_.tables.empty()) continue;
    const bool own_catalog = table.catalog.empty() || Same(table.catalog, catalog_.c_str());
    const bool main_schema = table.schema.empty() || Same(table.schema, "main");
    bool listed = false;
    for (const auto& allowed : principal_.tables) {
      if (Same(table.name, allowed.c_str())) listed = true;
    }
    if (!own_catalog || !main_schema || !listed) {
      return PermissionDenied("SQL sandbox: user '", principal_.user, "' may not read '",
                              text, "' (allowed tables: see auth.users[].tables)");
    }
  }
  return arrow::Status::OK();
}

namespace {

// Table functions no client statement may call, whatever its role: they read files the
// sandbox must still allow DuckDB itself (the database file, its WAL, the configured view
// files), run SQL or name tables given as text (which the table check cannot see), write
// (checkpoints) or expose the server's stored values or secrets.
bool RefusedTableFunction(const std::string& name) {
  static const char* const kNames[] = {
      "query", "query_table", "glob", "sniff_csv",
      "pragma_storage_info", "duckdb_secrets", "which_secret", "arrow_scan",
      "arrow_scan_dumb", "seq_scan", "index_scan"};
  static const char* const kPrefixes[] = {"read_", "parquet_", "iceberg_", "delta_",
                                          "postgres_", "sqlite_", "mysql_"};
  for (const char* refused : kNames) {
    if (name == refused) return true;
  }
  for (const char* prefix : kPrefixes) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

}  // namespace

arrow::Status StatementGuard::CheckEffects(duckdb_connection conn,
                                           const std::string& sql) const {
  // Without DuckDB's parser (another library version) the checks of types and tables
  // still apply; file reads stay limited to the allowed paths by DuckDB's settings.
  if (!parser_trusted_) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto effects, ReadEffects(conn, sql));
  if (effects.copies_to_file) {
    return PermissionDenied("SQL sandbox: COPY ... TO writes a file on the server and is "
                            "refused for every user; read results through the server's "
                            "formats instead (Arrow, Parquet, CSV, JSON)");
  }
  for (const auto& call : effects.table_functions) {
    if (call.has_parameter) {
      return PermissionDenied("SQL sandbox: a table function's arguments cannot be query "
                              "parameters ('", call.name, "'): what it reads would only be "
                              "known when it runs");
    }
    // Checkpoints write (and stall writers): an admin's maintenance, like the action.
    if ((call.name == "checkpoint" || call.name == "force_checkpoint") && !principal_.IsAdmin()) {
      return PermissionDenied("SQL sandbox: '", call.name, "' is refused for user '",
                              principal_.user, "': checkpoints are for admins");
    }
    if (call.name.empty() || RefusedTableFunction(call.name)) {
      return PermissionDenied("SQL sandbox: the table function '", call.name,
                              "' is refused for every user: it reads files, runs SQL text, "
                              "writes, or exposes the server's own state");
    }
  }
  return arrow::Status::OK();
}

arrow::Status StatementGuard::CheckWrites(duckdb_connection conn, const std::string& sql,
                                          duckdb_statement_type type) const {
  if (!Writes(type)) return arrow::Status::OK();
  if (!parser_trusted_) {
    return PermissionDenied("SQL sandbox: ", TypeName(type),
                            " is refused: this DuckDB library is not the one the server was "
                            "built against, so the statement's targets cannot be checked");
  }
  ARROW_ASSIGN_OR_RAISE(auto targets, WriteTargets(conn, sql));
  for (const auto& target : targets) {
    if (IsServerState(target)) {
      return PermissionDenied("SQL sandbox: '", Describe(target),
                              "' is the server's own state (request log or scratch catalog) "
                              "and cannot be written, altered or dropped through SQL");
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
