#pragma once

// Internal to storage: the SQL sandbox's rules, as lists and classifications of what
// DuckDB's parser reports. The StatementGuard applies them (statement_guard.cc).

#include <cstdint>
#include <string>

#include "arrow/status.h"

namespace duckdb {
enum class StatementType : uint8_t;
enum class CatalogType : uint8_t;
}  // namespace duckdb

namespace arrowport::storage {

struct FunctionCall;

/// The server's own state: the ingest scratch catalog and the request log's schema.
inline constexpr const char* kScratch = "arrowport_scratch";
inline constexpr const char* kStateSchema = "arrowport";

/// How deep views over views (and macros in macros) are followed; deeper is refused
/// rather than trusted.
inline constexpr int kMaxViewDepth = 8;

/// The refusal of SQL that reaches the server's own state (`verb`: "read or written").
arrow::Status ServerStateRefused(const std::string& what, const char* verb);

/// The refusal of SQL that makes a VARIANT (StatementReads::makes_variant) or writes a
/// table with a VARIANT column (`what`: what it does).
arrow::Status VariantRefused(const std::string& what);

/// Case-insensitive name comparison, as DuckDB compares identifiers.
bool SameName(const std::string& a, const char* b);

/// The statement kind as a user writes it ("MERGE INTO", "INSTALL/LOAD").
const char* KindName(duckdb::StatementType type);
/// What an admin may run besides SELECT and the allowed PRAGMAs.
bool AdminKind(duckdb::StatementType type);
/// PRAGMAs DuckDB rewrites into a SELECT over one table's or the schema's catalog.
bool AllowedPragma(const std::string& name);
/// What CREATE may make (admins): entries whose reads the sandbox sees when they are
/// used. Macros and functions would run SQL it cannot see at the call; secrets hold
/// credentials.
bool AllowedCreate(duckdb::CatalogType type);
/// Table functions any role may call: generators over their (constant) arguments.
bool AllowedTableFunction(const std::string& name);
/// The same list, for messages.
extern const char* const kTableFunctionList;
/// Settings a client may read with current_setting(): nothing of the server's files,
/// memory or threads.
bool HarmlessSetting(const std::string& name);
/// Bytes a list-making or string-making call asks for by its constant arguments, when it
/// is one of the generators whose size an argument sets (0 when unknown).
double AskedBytes(const FunctionCall& call);
/// Where an entry lives: the server's own state (refused to every SQL caller).
bool IsServerState(const std::string& catalog, const std::string& schema,
                   const std::string& name, bool is_schema);
/// DuckDB's system catalog (information_schema, pg_catalog, the system catalog).
bool IsSystemCatalog(const std::string& catalog, const std::string& schema);

}  // namespace arrowport::storage
