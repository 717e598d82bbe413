// The SQL sandbox's checks of what a statement calls (statement_guard.h: CheckCalls,
// CheckMacros): table and scalar functions against the allow-lists, and the bodies of
// the macros it calls, walked as the statement is.
#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/macro_catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/schema_catalog_entry.hpp>
#include <duckdb/catalog/entry_lookup_info.hpp>
#include <duckdb/function/scalar_macro_function.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/parser/expression/function_expression.hpp>

#include "arrowport/common/status_detail.h"
#include "arrowport/storage/files/lake_file_system.h"
#include "arrowport/storage/sandbox/sandbox_rules.h"
#include "arrowport/storage/sandbox/statement_guard.h"
#include "arrowport/storage/sandbox/statement_walker.h"

namespace arrowport::storage {

arrow::Status StatementGuard::CheckCalls(const StatementReads& reads) const {
  for (const auto& listing : reads.listings) {
    // SHOW TABLES lists schema main; SHOW ALL TABLES and the like list everything.
    if (listing != "tables" || !principal_.tables.empty()) {
      return PermissionDenied("SQL sandbox: SHOW ", listing, " is refused for user '",
                              principal_.user, "': list tables with the Flight SQL catalog "
                              "calls, list_flights or GET /tables");
    }
  }
  for (const auto& call : reads.functions) {
    if (call.table) {
      if (call.has_parameter) {
        return PermissionDenied("SQL sandbox: a table function's arguments cannot be query "
                                "parameters ('", call.name, "'): what it reads would only be "
                                "known when it runs");
      }
      if (call.name == "checkpoint" || call.name == "force_checkpoint") {
        // A checkpoint must run where the allocation guard cannot refuse any of it.
        return PermissionDenied("SQL sandbox: ", call.name, " is refused for every user: "
                                "run the checkpoint action instead (admins; the server also "
                                "checkpoints by itself as the WAL grows)");
      }
      if (!AllowedTableFunction(call.name)) {
        return PermissionDenied("SQL sandbox: the table function '", call.name,
                                "' is refused for every user (allowed: ", kTableFunctionList,
                                "): file readers, query(), catalog and settings functions "
                                "reach the server's own state");
      }
    } else if (call.name == "current_setting") {
      const auto& name = call.constants.empty() ? std::nullopt : call.constants[0];
      if (!name || !HarmlessSetting(*name)) {
        return PermissionDenied("SQL sandbox: current_setting('",
                                name.value_or("<not a constant>"),
                                "') is refused for every user: the server's settings are "
                                "out of reach of SQL (allowed: TimeZone, Calendar, "
                                "search_path, schema, default_order, default_null_order)");
      }
    } else if (SameName(call.name, kLakeValueFunction) ||
               SameName(call.name, kLakeRefusalFunction)) {
      // The server's lake views call them; a caller would read another table's values.
      return PermissionDenied("SQL sandbox: ", call.name, "() is refused for every user: "
                              "it serves the server's lake views; read the lake table");
    } else if (call.name == "getvariable" || call.name == "getenv") {
      return PermissionDenied("SQL sandbox: ", call.name, "() is refused for every user: "
                              "the server's variables and environment are out of reach of SQL");
    }
    const double asked = AskedBytes(call);
    if (asked > static_cast<double>(max_value_bytes_)) {
      return TooLarge("SQL sandbox: ", call.name, "(...) would build a value of about ",
                      static_cast<int64_t>(asked / (1 << 20)), " MiB; one query may use at "
                      "most ", max_value_bytes_ >> 20, " MiB outside DuckDB's buffer pool "
                      "(limits.max_query_memory)");
    }
  }
  return arrow::Status::OK();
}

arrow::Status StatementGuard::CheckMacros(duckdb::ClientContext& context,
                                          const StatementReads& reads, int depth) const {
  for (const auto& call : reads.functions) {
    if (call.table) continue;  // table functions: by the allow-list alone
    auto entry = duckdb::Catalog::GetEntry(
        context, duckdb::EntryLookupInfo(duckdb::CatalogType::SCALAR_FUNCTION_ENTRY, call.qualified),
        duckdb::OnEntryNotFound::RETURN_NULL);
    if (!entry || entry->type != duckdb::CatalogType::MACRO_ENTRY) continue;
    if (depth >= kMaxViewDepth) {
      return PermissionDenied("SQL sandbox: macros nested more than ", kMaxViewDepth,
                              " deep cannot be checked ('", call.name, "')");
    }
    const std::string catalog = entry->ParentCatalog().GetName().GetIdentifierName();
    const std::string schema = entry->ParentSchema().name.GetIdentifierName();
    for (const auto& macro : entry->Cast<duckdb::MacroCatalogEntry>().macros) {
      std::vector<const duckdb::ParsedExpression*> bodies;
      if (macro->type == duckdb::MacroType::SCALAR_MACRO) {
        bodies.push_back(macro->Cast<duckdb::ScalarMacroFunction>().expression.get());
      }
      for (const auto& parameter : macro->default_parameters) {
        bodies.push_back(parameter.second.get());
      }
      for (const auto* body : bodies) {
        if (body == nullptr) continue;
        const StatementReads inner = ReadsOf(*body);
        if (!inner.unknown.empty()) {
          return PermissionDenied("SQL sandbox: the macro '", call.name, "' holds ",
                                  inner.unknown, ", which it cannot check");
        }
        auto checked = [&]() -> arrow::Status {
          ARROW_RETURN_NOT_OK(CheckNestedWrites(inner));
          ARROW_RETURN_NOT_OK(CheckCalls(inner));
          ARROW_RETURN_NOT_OK(CheckTables(context, inner, catalog, schema, depth + 1));
          return CheckMacros(context, inner, depth + 1);
        }();
        if (!checked.ok()) {
          std::string why = checked.message();
          if (why.rfind("SQL sandbox: ", 0) == 0) why = why.substr(13);
          return checked.WithMessage("SQL sandbox: the function '", call.name,
                                     "' (a macro) is refused: ", why);
        }
      }
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
