// StatementGuard::CheckTables: what a statement reads, resolved in the catalog (views
// followed), against the server's state, the system catalog and the caller's tables.

#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/schema_catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/table_catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/view_catalog_entry.hpp>
#include <duckdb/catalog/entry_lookup_info.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/parser/parsed_data/create_table_info.hpp>
#include <duckdb/parser/statement/create_statement.hpp>
#include <duckdb/parser/statement/select_statement.hpp>

#include "arrowport/common/status_detail.h"
#include "arrowport/storage/core/query_options.h"
#include "arrowport/storage/sandbox/sandbox_rules.h"
#include "arrowport/storage/sandbox/statement_guard.h"
#include "arrowport/storage/sandbox/statement_walker.h"

namespace arrowport::storage {

namespace {

// The catalog entry `table` names (null: none); a name inside a view resolves in the
// view's catalog and schema first.
duckdb::optional_ptr<duckdb::CatalogEntry> ResolveTable(duckdb::ClientContext& context,
                                                        const NamedEntry& table,
                                                        const std::string& view_catalog,
                                                        const std::string& view_schema) {
  duckdb::optional_ptr<duckdb::CatalogEntry> entry;
  if (!view_catalog.empty() && table.catalog.empty()) {
    const std::string schema = table.schema.empty() ? view_schema : table.schema;
    entry = duckdb::Catalog::GetEntry(
        context,
        duckdb::EntryLookupInfo(duckdb::CatalogType::TABLE_ENTRY,
                                duckdb::QualifiedName(duckdb::Identifier(view_catalog),
                                                      duckdb::Identifier(schema),
                                                      duckdb::Identifier(table.name))),
        duckdb::OnEntryNotFound::RETURN_NULL);
  }
  if (!entry) {
    entry = duckdb::Catalog::GetEntry(
        context, duckdb::EntryLookupInfo(duckdb::CatalogType::TABLE_ENTRY, table.qualified),
        duckdb::OnEntryNotFound::RETURN_NULL);
  }
  return entry;
}

// One more scan of a transform's input (`table`). The client's stream can be read once: a
// second scan would see it drained (its scan fails then: CreateSingleScanView; refused
// here before anything runs).
arrow::Status CountInputScan(const NamedEntry& table, int* input_scans) {
  if (table.rescanned) {
    return arrow::Status::Invalid(
        "transform: 'input' is read more than once: the recursive part of a WITH "
        "RECURSIVE reads it, and DuckDB runs that part again at each step (the "
        "client's stream is not stored); read it once, e.g. WITH RECURSIVE i AS "
        "MATERIALIZED (SELECT * FROM input), r AS (... FROM r, i ...)");
  }
  if (++*input_scans > 1) {
    return arrow::Status::Invalid(
        "transform: 'input' is read more than once: the statement names it more "
        "than once (the client's stream is not stored); name it once, e.g. WITH i "
        "AS MATERIALIZED (SELECT * FROM input)");
  }
  return arrow::Status::OK();
}

// Whether `name` in `catalog`.`schema` is one of `tables` (a user's allowed tables,
// all in the database's own catalog `own_catalog`, schema main).
bool IsListed(const std::vector<std::string>& tables, const std::string& own_catalog,
              const std::string& catalog, const std::string& schema,
              const std::string& name) {
  if (!SameName(catalog, own_catalog.c_str()) || !SameName(schema, "main")) return false;
  for (const auto& allowed : tables) {
    if (SameName(name, allowed.c_str())) return true;
  }
  return false;
}

// Whether a view's query reads files (an unknown reference or a table function that is
// not on the allow-list).
bool ReadsFiles(const StatementReads& inner) {
  bool reads_files = !inner.unknown.empty();
  for (const auto& call : inner.functions) {
    reads_files |= call.table && !AllowedTableFunction(call.name);
  }
  return reads_files;
}

// Whether `entry` is a table with a VARIANT column (its name in `column`).
bool HasVariantColumn(const duckdb::CatalogEntry& entry, std::string* column) {
  if (entry.type != duckdb::CatalogType::TABLE_ENTRY) return false;
  for (const auto& definition : entry.Cast<duckdb::TableCatalogEntry>().GetColumns().Logical()) {
    if (NamesVariant(definition.Type())) {
      *column = definition.Name().GetIdentifierName();
      return true;
    }
  }
  return false;
}

// A write into a table with a VARIANT column: DuckDB casts what is written to it (JSON
// as well), so deeply nested JSON would become a variant no later read survives.
arrow::Status CheckVariantWrites(duckdb::ClientContext& context, const StatementReads& reads) {
  for (const auto& target : reads.writes) {
    auto entry = ResolveTable(context, target, "", "");
    if (!entry || entry->type != duckdb::CatalogType::TABLE_ENTRY) continue;
    std::string column;
    if (HasVariantColumn(*entry, &column)) {
      return VariantRefused("writing '" + target.ToString() + "', whose column '" + column +
                            "' is a VARIANT,");
    }
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status StatementGuard::CheckVariantStores(duckdb::ClientContext& context,
                                                 const duckdb::SQLStatement& statement) const {
  std::string column;
  if (statement.type != duckdb::StatementType::ALTER_STATEMENT) return arrow::Status::OK();
  for (const auto& target : WritesOf(statement).value_or(std::vector<NamedEntry>{})) {
    auto entry = ResolveTable(context, target, "", "");
    if (entry && HasVariantColumn(*entry, &column)) {
      return VariantRefused("altering '" + target.ToString() + "', whose column '" + column +
                            "' is a VARIANT,");
    }
  }
  return arrow::Status::OK();
}

arrow::Status StatementGuard::CheckCreatedVariants(duckdb::ClientContext& context,
                                                   const duckdb::SQLStatement& statement) {
  if (statement.type != duckdb::StatementType::CREATE_STATEMENT) return arrow::Status::OK();
  const auto& info = *statement.Cast<duckdb::CreateStatement>().info;
  if (info.type != duckdb::CatalogType::TABLE_ENTRY) return arrow::Status::OK();
  const auto& table = info.Cast<duckdb::CreateTableInfo>();
  if (!table.query) return arrow::Status::OK();
  duckdb::StatementSignature signature;
  try {
    signature = context.BindStatement(table.query->Copy());
  } catch (const std::exception&) {
    return arrow::Status::OK();  // DuckDB's own error follows when it prepares the statement
  }
  for (const auto& type : signature.types) {
    if (NamesVariant(type)) {
      return VariantRefused("CREATE TABLE ... AS a query whose result holds a VARIANT");
    }
  }
  return arrow::Status::OK();
}

arrow::Status StatementGuard::CheckNoVariantRecursion(duckdb::ClientContext& context,
                                                      const StatementReads& reads,
                                                      int depth) const {
  if (depth > kMaxViewDepth) return arrow::Status::OK();  // CheckTables refuses it
  for (const auto& table : reads.tables) {
    auto entry = ResolveTable(context, table, "", "");
    if (!entry) continue;
    std::string column;
    if (HasVariantColumn(*entry, &column)) {
      return VariantRefused("a recursive query reading '" + table.ToString() +
                            "', whose column '" + column + "' is a VARIANT,");
    }
    if (entry->type != duckdb::CatalogType::VIEW_ENTRY) continue;
    const auto& view = entry->Cast<duckdb::ViewCatalogEntry>();
    if (!view.query || !view.query->node) continue;
    ARROW_RETURN_NOT_OK(CheckNoVariantRecursion(context, ReadsOf(*view.query->node), depth + 1));
  }
  return arrow::Status::OK();
}

arrow::Status StatementGuard::CheckTables(duckdb::ClientContext& context,
                                          const StatementReads& reads,
                                          const std::string& view_catalog,
                                          const std::string& view_schema, int depth) const {
  if (depth > kMaxViewDepth) {
    return PermissionDenied("SQL sandbox: views nested more than ", kMaxViewDepth,
                            " deep cannot be checked");
  }
  if (depth == 0) ARROW_RETURN_NOT_OK(CheckVariantWrites(context, reads));
  const bool limited = !principal_.tables.empty();
  int input_scans = 0;  // a transform's references to its input
  for (const auto& table : reads.tables) {
    if (IsServerState(table.catalog, table.schema, table.name, false)) {
      return ServerStateRefused(table.ToString(), "read or written");
    }
    auto entry = ResolveTable(context, table, view_catalog, view_schema);
    const std::string shown = table.ToString();
    if (!entry && table.shown) {
      // SHOW x of something that is no table shows the setting x.
      if (table.catalog.empty() && table.schema.empty() && HarmlessSetting(table.name)) {
        continue;
      }
      return PermissionDenied("SQL sandbox: SHOW ", shown, " is refused for every user: '",
                              shown, "' is no table, and the server's settings are out of "
                              "reach of SQL");
    }
    if (!entry) {
      // Unknown: DuckDB's binder says so; a table-limited user learns nothing either way.
      if (limited) {
        return PermissionDenied("SQL sandbox: user '", principal_.user, "' may not read '",
                                shown, "' (allowed tables: see auth.users[].tables)");
      }
      continue;
    }
    const std::string catalog = entry->ParentCatalog().GetName().GetIdentifierName();
    const std::string schema = entry->ParentSchema().name.GetIdentifierName();
    const std::string name = entry->name.GetIdentifierName();
    // A transform's input: the server's temporary view over the caller's own stream
    // (made by Connection::Query on this connection, where no client SQL creates any).
    if (transform_ && depth == 0 && entry->type == duckdb::CatalogType::VIEW_ENTRY &&
        SameName(catalog, "temp") && SameName(schema, "main") &&
        SameName(name, kTransformInput)) {
      ARROW_RETURN_NOT_OK(CountInputScan(table, &input_scans));
      continue;
    }
    if (IsServerState(catalog, schema, name, false)) {
      return ServerStateRefused(shown, "read or written");
    }
    if (IsSystemCatalog(catalog, schema)) {
      return PermissionDenied("SQL sandbox: '", shown, "' is DuckDB's system catalog, which "
                              "lists every table and setting: it is refused for every user; "
                              "list tables with the Flight SQL catalog calls, list_flights "
                              "or GET /tables");
    }
    const bool listed = IsListed(principal_.tables, catalog_, catalog, schema, name);
    if (entry->type == duckdb::CatalogType::VIEW_ENTRY) {
      const auto& view = entry->Cast<duckdb::ViewCatalogEntry>();
      if (!view.query || !view.query->node) continue;
      const StatementReads inner = ReadsOf(*view.query->node);
      if (inner.makes_variant) {
        return VariantRefused("reading the view '" + shown + "', which makes a VARIANT,");
      }
      // The view's own tables are judged as if named here; a listed view that reads
      // files (a configured `views:` entry) is readable by its name.
      if (limited && ReadsFiles(inner) && !listed) {
        return PermissionDenied("SQL sandbox: user '", principal_.user, "' may not read '",
                                shown, "' (a view over files is read only when listed in "
                                "auth.users[].tables)");
      }
      ARROW_RETURN_NOT_OK(CheckTables(context, inner, catalog, schema, depth + 1));
      continue;
    }
    if (limited && !listed) {
      return PermissionDenied("SQL sandbox: user '", principal_.user, "' may not read '",
                              shown, "' (allowed tables: see auth.users[].tables)");
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
