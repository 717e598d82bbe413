// The table-reference part of the parse-tree walker (statement_walker_internal.h): FROM
// clauses (base tables, joins, subqueries, table functions, VALUES, PIVOT, SHOW/DESCRIBE),
// function calls and expressions, and the name helpers the other parts share.
#include <duckdb/parser/expression/cast_expression.hpp>
#include <duckdb/parser/expression/constant_expression.hpp>
#include <duckdb/parser/expression/function_expression.hpp>
#include <duckdb/parser/expression/subquery_expression.hpp>
#include <duckdb/parser/parsed_expression_iterator.hpp>
#include <duckdb/parser/query_node.hpp>
#include <duckdb/parser/statement/select_statement.hpp>
#include <duckdb/parser/tableref/basetableref.hpp>
#include <duckdb/parser/tableref/expressionlistref.hpp>
#include <duckdb/parser/tableref/joinref.hpp>
#include <duckdb/parser/tableref/pivotref.hpp>
#include <duckdb/parser/tableref/showref.hpp>
#include <duckdb/parser/tableref/subqueryref.hpp>
#include <duckdb/parser/tableref/table_function_ref.hpp>

#include <algorithm>
#include <cctype>

#include "arrowport/storage/sandbox/statement_walker_internal.h"

namespace arrowport::storage {

std::string ReadWalker::Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool ReadWalker::HasParameter(const duckdb::ParsedExpression& expr) {
  if (expr.GetExpressionClass() == duckdb::ExpressionClass::PARAMETER) return true;
  bool found = false;
  duckdb::ParsedExpressionIterator::EnumerateChildren(
      expr, [&found](const duckdb::ParsedExpression& child) {
        found = found || HasParameter(child);
      });
  return found;
}

std::optional<std::string> ReadWalker::ConstantText(const duckdb::ParsedExpression& expr) {
  switch (expr.GetExpressionClass()) {
    case duckdb::ExpressionClass::CONSTANT: {
      const auto& literal = expr.Cast<duckdb::ConstantExpression>().GetLiteral();
      if (literal.IsNull()) return std::nullopt;
      return literal.text;
    }
    case duckdb::ExpressionClass::CAST:
      return ConstantText(expr.Cast<duckdb::CastExpression>().Child());
    default:
      return std::nullopt;
  }
}

void ReadWalker::Ref(const duckdb::TableRef& ref) {
  switch (ref.type) {
    case duckdb::TableReferenceType::BASE_TABLE: {
      auto entry = EntryOf(ref.Cast<duckdb::BaseTableRef>().GetQualifiedName());
      const CteScope* cte = entry.catalog.empty() && entry.schema.empty()
                                ? InCteScope(entry.name)
                                : nullptr;
      if (cte != nullptr) {
        CteRead(*cte);
        break;
      }
      Table(std::move(entry));
      break;
    }
    case duckdb::TableReferenceType::JOIN: {
      const auto& join = ref.Cast<duckdb::JoinRef>();
      if (join.left) Ref(*join.left);
      if (join.right) Ref(*join.right);
      if (join.condition) Expr(*join.condition);
      break;
    }
    case duckdb::TableReferenceType::SUBQUERY: {
      const auto& subquery = ref.Cast<duckdb::SubqueryRef>();
      if (subquery.subquery) Statement(*subquery.subquery);
      break;
    }
    case duckdb::TableReferenceType::TABLE_FUNCTION: {
      const auto& function = ref.Cast<duckdb::TableFunctionRef>();
      if (function.function) Function(*function.function, /*table=*/true);
      if (function.subquery) Statement(*function.subquery);
      break;
    }
    case duckdb::TableReferenceType::EXPRESSION_LIST:
      for (const auto& row : ref.Cast<duckdb::ExpressionListRef>().values) {
        for (const auto& e : row) Expr(*e);
      }
      break;
    case duckdb::TableReferenceType::PIVOT: {
      const auto& pivot = ref.Cast<duckdb::PivotRef>();
      if (pivot.source) Ref(*pivot.source);
      for (const auto& e : pivot.aggregates) Expr(*e);
      for (const auto& column : pivot.pivots) {
        for (const auto& e : column.pivot_expressions) Expr(*e);
        if (column.subquery) Node(*column.subquery);
      }
      break;
    }
    case duckdb::TableReferenceType::SHOW_REF: {
      const auto& show = ref.Cast<duckdb::ShowRef>();
      if (show.query) {
        Node(*show.query);
      } else if (show.show_type == duckdb::ShowType::SHOW_SPECIAL) {
        out_->listings.push_back(Lower(show.GetTableName().GetIdentifierName()));
      } else {
        auto entry = EntryOf(duckdb::QualifiedName(show.GetCatalogName(),
                                                   show.GetSchemaName(), show.GetTableName()));
        entry.shown = true;
        Table(std::move(entry));
      }
      break;
    }
    case duckdb::TableReferenceType::EMPTY_FROM:
      break;
    default:
      Unknown("a table reference of a kind the sandbox does not know");
      break;
  }
}

void ReadWalker::Function(const duckdb::ParsedExpression& expr, bool table) {
  if (expr.GetExpressionClass() != duckdb::ExpressionClass::FUNCTION) {
    if (table) Unknown("a table function that is not a plain call");
    Expr(expr);
    return;
  }
  const auto& function = expr.Cast<duckdb::FunctionExpression>();
  FunctionCall call;
  call.name = Lower(function.FunctionName().GetIdentifierName());
  call.qualified = function.GetQualifiedName();
  call.table = table;
  call.has_parameter = HasParameter(expr);
  for (const auto& argument : function.GetArguments()) {
    call.constants.push_back(ConstantText(argument.GetExpression()));
  }
  // Functions that make a VARIANT of anything, or one level deeper than they are given
  // (a recursive CTE of variant_group_object nests without end).
  for (const char* maker : {"variant_bytes_to_variant", "stats", "variant_group_object",
                            "variant_group_array"}) {
    if (call.name == maker) out_->makes_variant = true;
  }
  out_->functions.push_back(std::move(call));
  // Arguments (and FILTER, ORDER BY) may hold subqueries and more calls.
  duckdb::ParsedExpressionIterator::EnumerateChildren(
      expr, [this](const duckdb::ParsedExpression& child) { Expr(child); });
}

void ReadWalker::Expr(const duckdb::ParsedExpression& expr) {
  switch (expr.GetExpressionClass()) {
    case duckdb::ExpressionClass::FUNCTION:
      Function(expr, /*table=*/false);
      return;
    case duckdb::ExpressionClass::CAST:
      if (NamesVariant(expr.Cast<duckdb::CastExpression>().TargetType())) {
        out_->makes_variant = true;
      }
      break;
    case duckdb::ExpressionClass::SUBQUERY: {
      const auto& subquery = expr.Cast<duckdb::SubqueryExpression>();
      if (subquery.Subquery()) Statement(*subquery.Subquery());
      break;
    }
    default:
      break;
  }
  duckdb::ParsedExpressionIterator::EnumerateChildren(
      expr, [this](const duckdb::ParsedExpression& child) { Expr(child); });
}

// A DML node's target: a base table, or something the sandbox refuses to guess about.
void ReadWalker::Written(const duckdb::TableRef* ref) {
  if (ref == nullptr || ref->type != duckdb::TableReferenceType::BASE_TABLE) {
    Unknown("a data-changing statement whose target is not a plain table");
    return;
  }
  out_->writes.push_back(EntryOf(ref->Cast<duckdb::BaseTableRef>().GetQualifiedName()));
}

}  // namespace arrowport::storage
