#include "arrowport/storage/sandbox/whole_table_read.h"

#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/table_catalog_entry.hpp>
#include <duckdb/catalog/entry_lookup_info.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/parser/expression/star_expression.hpp>
#include <duckdb/parser/query_node/select_node.hpp>
#include <duckdb/parser/result_modifier.hpp>
#include <duckdb/parser/statement/select_statement.hpp>
#include <duckdb/parser/tableref/basetableref.hpp>
#include <duckdb/transaction/transaction_context.hpp>

#include <algorithm>
#include <exception>
#include <string>

#include "arrowport/storage/sandbox/statement_walker.h"

namespace arrowport::storage {

namespace {

// A LIMIT or OFFSET written as a non-negative whole number (or left out).
bool PlainCount(const duckdb::unique_ptr<duckdb::ParsedExpression>& count) {
  if (!count) return true;
  if (count->GetExpressionClass() != duckdb::ExpressionClass::CONSTANT) return false;
  const std::string text = count->ToString();
  return !text.empty() && text.size() <= 18 &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<TableIdentity> WholeTableRead(duckdb::ClientContext& context,
                                            const duckdb::SQLStatement& statement,
                                            const StatementReads& reads) {
  if (statement.type != duckdb::StatementType::SELECT_STATEMENT ||
      reads.tables.size() != 1 || !reads.writes.empty() || !reads.functions.empty() ||
      !reads.listings.empty() || !reads.unknown.empty()) {
    return std::nullopt;
  }
  const auto& root = statement.Cast<duckdb::SelectStatement>().node;
  if (!root || root->type != duckdb::QueryNodeType::SELECT_NODE) return std::nullopt;
  const auto& node = root->Cast<duckdb::SelectNode>();
  if (node.cte_map.map.size() != 0 || node.where_clause || node.having || node.qualify ||
      node.sample || !node.groups.group_expressions.empty() ||
      !node.groups.grouping_sets.empty() ||
      node.aggregate_handling != duckdb::AggregateHandling::STANDARD_HANDLING ||
      node.select_list.size() != 1 ||
      node.select_list[0]->GetExpressionClass() != duckdb::ExpressionClass::STAR) {
    return std::nullopt;
  }
  const auto& star = node.select_list[0]->Cast<duckdb::StarExpression>();
  if (!star.RelationName().empty() || !star.ExcludeList().empty() ||
      !star.ReplaceList().empty() || !star.RenameList().empty() || star.Expression() ||
      star.IsColumns()) {
    return std::nullopt;
  }
  const auto& from = node.from_table;
  if (!from || from->type != duckdb::TableReferenceType::BASE_TABLE || from->sample ||
      !from->column_name_alias.empty() || from->Cast<duckdb::BaseTableRef>().at_clause) {
    return std::nullopt;
  }
  for (const auto& modifier : node.modifiers) {
    if (modifier->type != duckdb::ResultModifierType::LIMIT_MODIFIER) return std::nullopt;
    const auto& limit = modifier->Cast<duckdb::LimitModifier>();
    if (!PlainCount(limit.limit) || !PlainCount(limit.offset)) return std::nullopt;
  }
  if (!context.transaction.HasActiveTransaction()) return std::nullopt;
  try {
    auto entry = duckdb::Catalog::GetEntry(
        context,
        duckdb::EntryLookupInfo(duckdb::CatalogType::TABLE_ENTRY, reads.tables[0].qualified),
        duckdb::OnEntryNotFound::RETURN_NULL);
    // A generated column runs its expression as the table is read (setseed() there would
    // reseed the reading connection): planned as any SELECT, and its connection not kept.
    if (!entry || entry->type != duckdb::CatalogType::TABLE_ENTRY ||
        entry->Cast<duckdb::TableCatalogEntry>().HasGeneratedColumns()) {
      return std::nullopt;
    }
    return TableIdentity{static_cast<uint64_t>(entry->ParentCatalog().GetOid()),
                         static_cast<uint64_t>(entry->oid)};
  } catch (const std::exception&) {
    return std::nullopt;  // bound below, for DuckDB's own words
  }
}

}  // namespace arrowport::storage
