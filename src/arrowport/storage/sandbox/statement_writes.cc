// What a statement writes (statement_walker.h: WritesOf), and the names it reports.
#include "arrowport/storage/sandbox/statement_walker.h"

#include <duckdb/common/enums/catalog_type.hpp>
#include <duckdb/common/enums/statement_type.hpp>
#include <duckdb/common/string_util.hpp>
#include <duckdb/parser/parsed_data/create_index_info.hpp>
#include <duckdb/parser/query_node/delete_query_node.hpp>
#include <duckdb/parser/query_node/insert_query_node.hpp>
#include <duckdb/parser/query_node/merge_query_node.hpp>
#include <duckdb/parser/query_node/update_query_node.hpp>
#include <duckdb/parser/statement/alter_statement.hpp>
#include <duckdb/parser/statement/copy_statement.hpp>
#include <duckdb/parser/statement/create_statement.hpp>
#include <duckdb/parser/statement/delete_statement.hpp>
#include <duckdb/parser/statement/drop_statement.hpp>
#include <duckdb/parser/statement/explain_statement.hpp>
#include <duckdb/parser/statement/insert_statement.hpp>
#include <duckdb/parser/statement/merge_into_statement.hpp>
#include <duckdb/parser/statement/multi_statement.hpp>
#include <duckdb/parser/statement/update_statement.hpp>
#include <duckdb/parser/tableref/basetableref.hpp>

namespace arrowport::storage {

std::string NamedEntry::ToString() const {
  std::string out;
  for (const auto* part : {&catalog, &schema, &name}) {
    if (part->empty()) continue;
    if (!out.empty()) out += ".";
    out += *part;
  }
  return out;
}

NamedEntry EntryOf(const duckdb::QualifiedName& name) {
  NamedEntry entry;
  entry.catalog = name.Catalog().GetIdentifierName();
  entry.schema = name.Schema().GetIdentifierName();
  entry.name = name.Name().GetIdentifierName();
  entry.qualified = name;
  return entry;
}

namespace {

// A DML target is a base table; anything else there (a subquery) cannot be written, but
// is refused rather than guessed about.
bool AddTableRef(const duckdb::TableRef* ref, std::vector<NamedEntry>* out) {
  if (ref == nullptr || ref->type != duckdb::TableReferenceType::BASE_TABLE) return false;
  out->push_back(EntryOf(ref->Cast<duckdb::BaseTableRef>().GetQualifiedName()));
  return true;
}

bool CollectWrites(const duckdb::SQLStatement& statement, std::vector<NamedEntry>* out) {
  using duckdb::StatementType;
  switch (statement.type) {
    case StatementType::INSERT_STATEMENT:
      out->push_back(EntryOf(statement.Cast<duckdb::InsertStatement>().node->qualified_name));
      return true;
    case StatementType::UPDATE_STATEMENT:
      return AddTableRef(statement.Cast<duckdb::UpdateStatement>().node->table.get(), out);
    case StatementType::DELETE_STATEMENT:
      return AddTableRef(statement.Cast<duckdb::DeleteStatement>().node->table.get(), out);
    case StatementType::MERGE_INTO_STATEMENT:
      return AddTableRef(statement.Cast<duckdb::MergeIntoStatement>().node->target.get(), out);
    case StatementType::DROP_STATEMENT: {
      const auto& info = *statement.Cast<duckdb::DropStatement>().info;
      auto target = EntryOf(info.GetQualifiedName());
      target.is_schema = info.type == duckdb::CatalogType::SCHEMA_ENTRY;
      target.reshaped = true;
      out->push_back(std::move(target));
      return true;
    }
    case StatementType::ALTER_STATEMENT: {
      const auto& info = *statement.Cast<duckdb::AlterStatement>().info;
      auto target = EntryOf(info.GetQualifiedName());
      target.reshaped = true;
      out->push_back(std::move(target));
      return true;
    }
    case StatementType::CREATE_STATEMENT: {
      const auto& info = *statement.Cast<duckdb::CreateStatement>().info;
      auto target = EntryOf(info.GetQualifiedName());
      target.is_schema = info.type == duckdb::CatalogType::SCHEMA_ENTRY;
      target.reshaped = true;
      target.created = true;
      target.temporary = info.temporary ||
                         duckdb::StringUtil::CIEquals(target.catalog, "temp");
      out->push_back(target);
      if (info.type == duckdb::CatalogType::INDEX_ENTRY) {
        // The index lives beside its table: the table is what the statement touches.
        target.name = info.Cast<duckdb::CreateIndexInfo>().table.GetIdentifierName();
        target.created = false;
        target.temporary = false;
        out->push_back(std::move(target));
      }
      return true;
    }
    case StatementType::COPY_STATEMENT: {
      const auto& info = *statement.Cast<duckdb::CopyStatement>().info;
      if (info.is_from) out->push_back(EntryOf(info.GetQualifiedName()));
      return true;
    }
    case StatementType::EXPLAIN_STATEMENT:
      // EXPLAIN ANALYZE runs its statement.
      return CollectWrites(*statement.Cast<duckdb::ExplainStatement>().stmt, out);
    case StatementType::MULTI_STATEMENT:
      for (const auto& step : statement.Cast<duckdb::MultiStatement>().statements) {
        if (!CollectWrites(*step, out)) return false;
      }
      return true;
    default:
      return true;
  }
}

}  // namespace

std::optional<std::vector<NamedEntry>> WritesOf(const duckdb::SQLStatement& statement) {
  std::vector<NamedEntry> out;
  if (!CollectWrites(statement, &out)) return std::nullopt;
  return out;
}

std::vector<HeldTable> HeldTables(const duckdb::SQLStatement& statement,
                                  const StatementReads& reads) {
  std::vector<HeldTable> held;
  auto hold = [&](const NamedEntry& entry, TableUse use) {
    if (entry.is_schema || entry.name.empty()) return;
    held.push_back(HeldTable{entry.name, use, entry.catalog, entry.schema, entry.created,
                             entry.temporary});
  };
  for (const auto& entry : WritesOf(statement).value_or(std::vector<NamedEntry>{})) {
    hold(entry, entry.reshaped ? TableUse::kReshape : TableUse::kWrite);
  }
  for (const auto& entry : reads.writes) hold(entry, TableUse::kWrite);
  return held;
}

}  // namespace arrowport::storage
