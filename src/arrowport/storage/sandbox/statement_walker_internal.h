#pragma once

// Internal to the sandbox (statement_walker.h's ReadsOf): the walker of a parse tree, whose
// parts live in three files: statements and DDL (statement_walker.cc), query nodes and
// CTE scopes (query_node_walker.cc), table references, calls and expressions
// (table_ref_walker.cc). Includes DuckDB's C++ parser headers.

#include <duckdb/parser/column_definition.hpp>
#include <duckdb/parser/constraint.hpp>
#include <duckdb/parser/parsed_data/alter_info.hpp>
#include <duckdb/parser/parsed_data/create_info.hpp>
#include <duckdb/parser/query_node.hpp>
#include <duckdb/parser/tableref.hpp>

#include <optional>
#include <string>
#include <vector>

#include "arrowport/storage/sandbox/statement_walker.h"

namespace duckdb {
class InsertQueryNode;
class UpdateQueryNode;
class DeleteQueryNode;
class MergeQueryNode;
class RecursiveCTENode;
class PragmaStatement;
}  // namespace duckdb

namespace arrowport::storage {

/// Walks a parse tree for what it reads and calls. CTE names are scoped: a reference to
/// one inside its WITH is not a table.
class ReadWalker {
 public:
  explicit ReadWalker(StatementReads* out) : out_(out) {}

  void Statement(const duckdb::SQLStatement& statement);
  void Expression(const duckdb::ParsedExpression& expr) { Expr(expr); }
  void Node(const duckdb::QueryNode& node);

  /// `text` in lower case (names as the sandbox compares them).
  static std::string Lower(std::string text);
  /// The text of a constant (through casts: 1e9::BIGINT), or nullopt.
  static std::optional<std::string> ConstantText(const duckdb::ParsedExpression& expr);
  static bool HasParameter(const duckdb::ParsedExpression& expr);

 private:
  // statement_walker.cc: statements and what DDL brings.
  void Create(const duckdb::CreateInfo& info);
  void Pragma(const duckdb::PragmaStatement& pragma);
  void Column(const duckdb::ColumnDefinition& column);
  void Constraint(const duckdb::Constraint& constraint);
  void Alter(const duckdb::AlterInfo& info);

  // query_node_walker.cc: query nodes, one per kind, and CTE scopes.
  void NodeOfKind(const duckdb::QueryNode& node);
  void RecursiveCte(const duckdb::RecursiveCTENode& cte);
  void Insert(const duckdb::InsertQueryNode& insert);
  void Update(const duckdb::UpdateQueryNode& update);
  void Delete(const duckdb::DeleteQueryNode& del);
  void Merge(const duckdb::MergeQueryNode& merge);

  // One name of a WITH: the tables its body reads (indexes into out_->tables), through
  // the CTEs it reads too, and whether DuckDB must materialise it (AS MATERIALIZED).
  struct CteScope {
    std::string name;
    bool materialized = false;
    std::vector<size_t> tables;
  };
  void Cte(const duckdb::Identifier& name, const duckdb::QueryNode* body,
           bool materialized);
  void Table(NamedEntry entry);
  void CteRead(const CteScope& cte);
  const CteScope* InCteScope(const std::string& name) const;

  // table_ref_walker.cc: FROM, calls and expressions.
  void Ref(const duckdb::TableRef& ref);
  void Function(const duckdb::ParsedExpression& expr, bool table);
  void Expr(const duckdb::ParsedExpression& expr);
  void Written(const duckdb::TableRef* ref);

  void Unknown(const char* what) {
    if (out_->unknown.empty()) out_->unknown = what;
  }

  StatementReads* out_;
  std::vector<CteScope> ctes_;
  // The CTE bodies being walked, innermost last: each collects the tables it reads.
  std::vector<std::vector<size_t>> bodies_;
  int recursive_parts_ = 0;  // recursive parts of WITH RECURSIVE around the walk
};

}  // namespace arrowport::storage
