// The query-node part of the parse-tree walker (statement_walker_internal.h): SELECT,
// set operations, WITH and WITH RECURSIVE, and the reads of INSERT, UPDATE, DELETE and
// MERGE; the scopes of CTE names.
#include <duckdb/parser/common_table_expression_info.hpp>
#include <duckdb/parser/parsed_expression_iterator.hpp>
#include <duckdb/parser/query_node/cte_node.hpp>
#include <duckdb/parser/query_node/delete_query_node.hpp>
#include <duckdb/parser/query_node/insert_query_node.hpp>
#include <duckdb/parser/query_node/merge_query_node.hpp>
#include <duckdb/parser/query_node/recursive_cte_node.hpp>
#include <duckdb/parser/query_node/select_node.hpp>
#include <duckdb/parser/query_node/set_operation_node.hpp>
#include <duckdb/parser/query_node/update_query_node.hpp>
#include <duckdb/parser/statement/merge_into_statement.hpp>
#include <duckdb/parser/statement/select_statement.hpp>

#include "arrowport/storage/sandbox/statement_walker_internal.h"

namespace arrowport::storage {

void ReadWalker::Node(const duckdb::QueryNode& node) {
  // WITH names are in scope for the node and everything under it; a CTE sees the
  // ones before it, not itself: DuckDB binds its own name in its body to the catalog
  // (only the recursive part of WITH RECURSIVE ... UNION sees it, below).
  const size_t scope = ctes_.size();
  for (const auto& entry : node.cte_map.map) {
    const bool materialized =
        entry.second &&
        entry.second->materialized == duckdb::CTEMaterialize::CTE_MATERIALIZE_ALWAYS;
    Cte(entry.first, entry.second ? entry.second->query_node.get() : nullptr,
        materialized);
  }
  NodeOfKind(node);
  // ORDER BY, LIMIT, DISTINCT ON: their expressions may hold subqueries.
  duckdb::ParsedExpressionIterator::EnumerateQueryNodeModifiers(
      const_cast<duckdb::QueryNode&>(node),
      [this](duckdb::unique_ptr<duckdb::ParsedExpression>& e) {
        if (e) Expr(*e);
      });
  ctes_.resize(scope);
}

void ReadWalker::NodeOfKind(const duckdb::QueryNode& node) {
  switch (node.type) {
    case duckdb::QueryNodeType::SELECT_NODE: {
      const auto& select = node.Cast<duckdb::SelectNode>();
      for (const auto& e : select.select_list) Expr(*e);
      if (select.from_table) Ref(*select.from_table);
      if (select.where_clause) Expr(*select.where_clause);
      for (const auto& e : select.groups.group_expressions) Expr(*e);
      if (select.having) Expr(*select.having);
      if (select.qualify) Expr(*select.qualify);
      break;
    }
    case duckdb::QueryNodeType::SET_OPERATION_NODE:
      for (const auto& child : node.Cast<duckdb::SetOperationNode>().children) Node(*child);
      break;
    case duckdb::QueryNodeType::RECURSIVE_CTE_NODE:
      RecursiveCte(node.Cast<duckdb::RecursiveCTENode>());
      break;
    case duckdb::QueryNodeType::CTE_NODE: {
      const auto& cte = node.Cast<duckdb::CTENode>();
      Cte(cte.ctename, cte.query.get(),
          cte.materialized == duckdb::CTEMaterialize::CTE_MATERIALIZE_ALWAYS);
      if (cte.child) Node(*cte.child);
      break;
    }
    case duckdb::QueryNodeType::INSERT_QUERY_NODE:
      Insert(node.Cast<duckdb::InsertQueryNode>());
      break;
    case duckdb::QueryNodeType::UPDATE_QUERY_NODE:
      Update(node.Cast<duckdb::UpdateQueryNode>());
      break;
    case duckdb::QueryNodeType::DELETE_QUERY_NODE:
      Delete(node.Cast<duckdb::DeleteQueryNode>());
      break;
    case duckdb::QueryNodeType::MERGE_QUERY_NODE:
      Merge(node.Cast<duckdb::MergeQueryNode>());
      break;
    default:
      Unknown("a query of a kind the sandbox does not know");
      break;
  }
}

void ReadWalker::RecursiveCte(const duckdb::RecursiveCTENode& cte) {
  out_->recursive = true;
  // The anchor (left) does not see the CTE; the recursive part (right) does.
  if (cte.left) Node(*cte.left);
  const size_t before = ctes_.size();
  ctes_.push_back({Lower(cte.ctename.GetIdentifierName()), true, {}});
  // DuckDB runs the recursive part again at each step, with what it reads.
  ++recursive_parts_;
  if (cte.right) Node(*cte.right);
  --recursive_parts_;
  ctes_.resize(before);
  for (const auto& e : cte.key_targets) Expr(*e);
}

void ReadWalker::Insert(const duckdb::InsertQueryNode& insert) {
  out_->writes.push_back(EntryOf(insert.qualified_name));
  if (insert.select_statement) Statement(*insert.select_statement);
  if (insert.table_ref) Ref(*insert.table_ref);
  for (const auto& e : insert.returning_list) Expr(*e);
  if (insert.on_conflict_info) {
    const auto& conflict = *insert.on_conflict_info;
    if (conflict.set_info) {
      for (const auto& e : conflict.set_info->expressions) Expr(*e);
      if (conflict.set_info->condition) Expr(*conflict.set_info->condition);
    }
    if (conflict.condition) Expr(*conflict.condition);
  }
}

void ReadWalker::Update(const duckdb::UpdateQueryNode& update) {
  Written(update.table.get());
  if (update.table) Ref(*update.table);
  if (update.from_table) Ref(*update.from_table);
  if (update.set_info) {
    for (const auto& e : update.set_info->expressions) Expr(*e);
    if (update.set_info->condition) Expr(*update.set_info->condition);
  }
  for (const auto& e : update.returning_list) Expr(*e);
}

void ReadWalker::Delete(const duckdb::DeleteQueryNode& del) {
  Written(del.table.get());
  if (del.table) Ref(*del.table);
  for (const auto& using_clause : del.using_clauses) Ref(*using_clause);
  if (del.condition) Expr(*del.condition);
  for (const auto& e : del.returning_list) Expr(*e);
}

void ReadWalker::Merge(const duckdb::MergeQueryNode& merge) {
  Written(merge.target.get());
  if (merge.target) Ref(*merge.target);
  if (merge.source) Ref(*merge.source);
  if (merge.join_condition) Expr(*merge.join_condition);
  for (const auto& entry : merge.actions) {
    for (const auto& action : entry.second) {
      if (action->condition) Expr(*action->condition);
      if (action->update_info) {
        for (const auto& e : action->update_info->expressions) Expr(*e);
        if (action->update_info->condition) Expr(*action->update_info->condition);
      }
      for (const auto& e : action->expressions) Expr(*e);
    }
  }
  for (const auto& e : merge.returning_list) Expr(*e);
}

// A CTE's body is walked where it is defined, then its name comes into scope.
void ReadWalker::Cte(const duckdb::Identifier& name, const duckdb::QueryNode* body,
                     bool materialized) {
  bodies_.emplace_back();
  if (body != nullptr) Node(*body);
  CteScope scope{Lower(name.GetIdentifierName()), materialized,
                 std::move(bodies_.back())};
  bodies_.pop_back();
  ctes_.push_back(std::move(scope));
}

void ReadWalker::Table(NamedEntry entry) {
  entry.rescanned = recursive_parts_ > 0;
  for (auto& body : bodies_) body.push_back(out_->tables.size());
  out_->tables.push_back(std::move(entry));
}

// A CTE named in a recursive part is run again at each step with it, unless DuckDB
// materialised it first (it may not without AS MATERIALIZED).
void ReadWalker::CteRead(const CteScope& cte) {
  for (const size_t table : cte.tables) {
    if (recursive_parts_ > 0 && !cte.materialized) out_->tables[table].rescanned = true;
    for (auto& body : bodies_) body.push_back(table);
  }
}

const ReadWalker::CteScope* ReadWalker::InCteScope(const std::string& name) const {
  const std::string lower = Lower(name);
  // The innermost WITH of that name hides the outer ones.
  for (auto it = ctes_.rbegin(); it != ctes_.rend(); ++it) {
    if (it->name == lower) return &*it;
  }
  return nullptr;
}

}  // namespace arrowport::storage
