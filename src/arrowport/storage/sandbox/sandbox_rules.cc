#include "arrowport/storage/sandbox/sandbox_rules.h"

#include <duckdb/common/enums/catalog_type.hpp>
#include <duckdb/common/enums/statement_type.hpp>
#include <strings.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>

#include "arrowport/storage/sandbox/statement_walker.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::storage {

arrow::Status ServerStateRefused(const std::string& what, const char* verb) {
  return PermissionDenied("SQL sandbox: '", what,
                          "' is the server's own state (request log or scratch catalog) and "
                          "cannot be ", verb, " through SQL");
}

arrow::Status VariantRefused(const std::string& what) {
  return PermissionDenied(
      "SQL sandbox: ", what, " is refused for every user: client SQL reads VARIANT values "
      "but neither makes nor writes them (DuckDB converts a variant recursively, one level "
      "at a time, and one made from deeply nested JSON crashed the server at its first "
      "read); send variants as arrow.parquet.variant columns through ingest, which checks "
      "them, or keep JSON as JSON");
}

bool SameName(const std::string& a, const char* b) { return strcasecmp(a.c_str(), b) == 0; }

const char* KindName(duckdb::StatementType type) {
  using duckdb::StatementType;
  switch (type) {
    case StatementType::SELECT_STATEMENT: return "SELECT";
    case StatementType::INSERT_STATEMENT: return "INSERT";
    case StatementType::UPDATE_STATEMENT: return "UPDATE";
    case StatementType::DELETE_STATEMENT: return "DELETE";
    case StatementType::MERGE_INTO_STATEMENT: return "MERGE INTO";
    case StatementType::CREATE_STATEMENT: return "CREATE";
    case StatementType::CREATE_FUNC_STATEMENT: return "CREATE FUNCTION";
    case StatementType::ALTER_STATEMENT: return "ALTER";
    case StatementType::DROP_STATEMENT: return "DROP";
    case StatementType::COPY_STATEMENT: return "COPY";
    case StatementType::EXPLAIN_STATEMENT: return "EXPLAIN";
    case StatementType::CALL_STATEMENT: return "CALL";
    case StatementType::VACUUM_STATEMENT: return "VACUUM/ANALYZE";
    case StatementType::PRAGMA_STATEMENT: return "PRAGMA";
    case StatementType::PREPARE_STATEMENT: return "PREPARE";
    case StatementType::EXECUTE_STATEMENT: return "EXECUTE";
    case StatementType::TRANSACTION_STATEMENT: return "a transaction statement";
    case StatementType::EXPORT_STATEMENT: return "EXPORT";
    case StatementType::SET_STATEMENT: return "SET/RESET/USE";
    case StatementType::VARIABLE_SET_STATEMENT: return "SET VARIABLE";
    case StatementType::LOAD_STATEMENT: return "INSTALL/LOAD";
    case StatementType::ATTACH_STATEMENT: return "ATTACH";
    case StatementType::DETACH_STATEMENT: return "DETACH";
    case StatementType::COPY_DATABASE_STATEMENT: return "COPY DATABASE";
    case StatementType::UPDATE_EXTENSIONS_STATEMENT: return "UPDATE EXTENSIONS";
    default: return "this kind of statement";
  }
}

// What an admin may run besides SELECT and the allowed PRAGMAs.
bool AdminKind(duckdb::StatementType type) {
  using duckdb::StatementType;
  switch (type) {
    case StatementType::INSERT_STATEMENT:
    case StatementType::UPDATE_STATEMENT:
    case StatementType::DELETE_STATEMENT:
    case StatementType::MERGE_INTO_STATEMENT:
    case StatementType::CREATE_STATEMENT:
    case StatementType::ALTER_STATEMENT:
    case StatementType::DROP_STATEMENT:
    case StatementType::COPY_STATEMENT:
    case StatementType::EXPLAIN_STATEMENT:  // EXPLAIN ANALYZE runs its statement
    case StatementType::CALL_STATEMENT:
    case StatementType::VACUUM_STATEMENT:
      return true;
    default:
      return false;
  }
}

// PRAGMAs DuckDB rewrites into a SELECT over one table's or the schema's catalog.
bool AllowedPragma(const std::string& name) {
  static const char* const kAllowed[] = {"table_info", "show", "show_tables", "version",
                                         "platform"};
  for (const char* allowed : kAllowed) {
    if (SameName(name, allowed)) return true;
  }
  return false;
}

// What CREATE may make (admins): entries whose reads the sandbox sees when they are used.
// Macros and functions would run SQL it cannot see at the call; secrets hold credentials.
bool AllowedCreate(duckdb::CatalogType type) {
  using duckdb::CatalogType;
  switch (type) {
    case CatalogType::TABLE_ENTRY:
    case CatalogType::VIEW_ENTRY:
    case CatalogType::SCHEMA_ENTRY:
    case CatalogType::INDEX_ENTRY:
    case CatalogType::SEQUENCE_ENTRY:
    case CatalogType::TYPE_ENTRY:
      return true;
    default:
      return false;
  }
}

// Table functions any role may call: generators over their (constant) arguments.
static const char* const kTableFunctions[] = {"range",     "generate_series", "unnest",   "repeat",
                                       "repeat_row", "json_each",      "json_tree"};
const char* const kTableFunctionList =
    "range, generate_series, unnest, repeat, repeat_row, json_each, json_tree";

bool AllowedTableFunction(const std::string& name) {
  for (const char* allowed : kTableFunctions) {
    if (name == allowed) return true;
  }
  return false;
}

// Settings a client may read with current_setting(): nothing of the server's files,
// memory or threads.
bool HarmlessSetting(const std::string& name) {
  static const char* const kHarmless[] = {"timezone", "calendar", "search_path", "schema",
                                          "default_order", "default_null_order"};
  for (const char* harmless : kHarmless) {
    if (SameName(name, harmless)) return true;
  }
  return false;
}

namespace {
std::optional<double> Number(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  try {
    size_t used = 0;
    std::string digits;
    for (char c : *text) {
      if (c != '_') digits.push_back(c);
    }
    const double value = std::stod(digits, &used);
    if (used != digits.size()) return std::nullopt;
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}
}  // namespace

// Bytes a list-making or string-making call asks for by its constant arguments, when it
// is one of the generators whose size an argument sets (0 when unknown).
double AskedBytes(const FunctionCall& call) {
  const auto& args = call.constants;
  auto arg = [&args](size_t i) { return i < args.size() ? Number(args[i]) : std::nullopt; };
  if (!call.table && (call.name == "range" || call.name == "generate_series")) {
    // A list of BIGINT: (stop - start) / step elements of 8 bytes.
    std::optional<double> start = 0, stop, step = 1;
    if (args.size() == 1) {
      stop = arg(0);
    } else if (args.size() >= 2) {
      start = arg(0);
      stop = arg(1);
      if (args.size() >= 3) step = arg(2);
    }
    if (!start || !stop || !step || *step == 0) return 0;
    return std::fabs((*stop - *start) / *step) * 8;
  }
  if (!call.table && (call.name == "repeat" || call.name == "list_resize" ||
                      call.name == "array_resize" || call.name == "lpad" ||
                      call.name == "rpad")) {
    auto count = arg(1);
    if (!count) return 0;
    double width = 1;
    if (call.name == "repeat" && !args.empty() && args[0]) {
      width = static_cast<double>(std::max<size_t>(1, args[0]->size()));
    }
    if (call.name == "list_resize" || call.name == "array_resize") width = 8;
    return *count * width;
  }
  return 0;
}

// Where an entry lives, for the server-state check.
bool IsServerState(const std::string& catalog, const std::string& schema,
                   const std::string& name, bool is_schema) {
  if (SameName(catalog, kScratch) || SameName(schema, kScratch)) return true;
  if (SameName(schema, kStateSchema)) return true;
  if (schema.empty() && SameName(catalog, kStateSchema)) return true;
  if (is_schema && (SameName(name, kStateSchema) || SameName(name, kScratch))) return true;
  return false;
}

bool IsSystemCatalog(const std::string& catalog, const std::string& schema) {
  return SameName(catalog, "system") || SameName(schema, "information_schema") ||
         SameName(schema, "pg_catalog");
}

}  // namespace arrowport::storage
