// What a statement reads and calls (statement_walker.h: ReadsOf), walking its parse tree:
// the entry points, statements, and the expressions DDL brings
// (statement_walker_internal.h).
#include "arrowport/storage/sandbox/statement_walker.h"

#include <algorithm>

#include <duckdb/common/enums/catalog_type.hpp>
#include <duckdb/common/enums/statement_type.hpp>
#include <duckdb/common/string_util.hpp>
#include <duckdb/common/type_visitor.hpp>
#include <duckdb/parser/expression/type_expression.hpp>
#include <duckdb/parser/constraints/check_constraint.hpp>
#include <duckdb/parser/parsed_data/alter_table_info.hpp>
#include <duckdb/parser/parsed_data/create_table_info.hpp>
#include <duckdb/parser/parsed_data/create_type_info.hpp>
#include <duckdb/parser/parsed_data/create_view_info.hpp>
#include <duckdb/parser/query_node/delete_query_node.hpp>
#include <duckdb/parser/query_node/insert_query_node.hpp>
#include <duckdb/parser/query_node/merge_query_node.hpp>
#include <duckdb/parser/query_node/update_query_node.hpp>
#include <duckdb/parser/statement/alter_statement.hpp>
#include <duckdb/parser/statement/call_statement.hpp>
#include <duckdb/parser/statement/copy_statement.hpp>
#include <duckdb/parser/statement/create_statement.hpp>
#include <duckdb/parser/statement/delete_statement.hpp>
#include <duckdb/parser/statement/explain_statement.hpp>
#include <duckdb/parser/statement/insert_statement.hpp>
#include <duckdb/parser/statement/merge_into_statement.hpp>
#include <duckdb/parser/statement/multi_statement.hpp>
#include <duckdb/parser/statement/pragma_statement.hpp>
#include <duckdb/parser/statement/select_statement.hpp>
#include <duckdb/parser/statement/update_statement.hpp>

#include "arrowport/storage/sandbox/statement_walker_internal.h"

namespace arrowport::storage {

void ReadWalker::Statement(const duckdb::SQLStatement& statement) {
  using duckdb::StatementType;
  switch (statement.type) {
    case StatementType::SELECT_STATEMENT:
      Node(*statement.Cast<duckdb::SelectStatement>().node);
      break;
    case StatementType::INSERT_STATEMENT:
      Node(*statement.Cast<duckdb::InsertStatement>().node);
      break;
    case StatementType::UPDATE_STATEMENT:
      Node(*statement.Cast<duckdb::UpdateStatement>().node);
      break;
    case StatementType::DELETE_STATEMENT:
      Node(*statement.Cast<duckdb::DeleteStatement>().node);
      break;
    case StatementType::MERGE_INTO_STATEMENT:
      Node(*statement.Cast<duckdb::MergeIntoStatement>().node);
      break;
    case StatementType::EXPLAIN_STATEMENT:
      Statement(*statement.Cast<duckdb::ExplainStatement>().stmt);
      break;
    case StatementType::CALL_STATEMENT: {
      const auto& call = statement.Cast<duckdb::CallStatement>();
      if (call.function) Function(*call.function, /*table=*/true);
      break;
    }
    case StatementType::COPY_STATEMENT: {
      const auto& info = *statement.Cast<duckdb::CopyStatement>().info;
      if (info.select_statement) Node(*info.select_statement);
      break;
    }
    case StatementType::CREATE_STATEMENT:
      Create(*statement.Cast<duckdb::CreateStatement>().info);
      break;
    case StatementType::ALTER_STATEMENT:
      Alter(*statement.Cast<duckdb::AlterStatement>().info);
      break;
    case StatementType::MULTI_STATEMENT:
      // What DuckDB makes of one statement it runs in steps (ADD COLUMN with a
      // non-constant DEFAULT: the ALTER, then an UPDATE filling it).
      for (const auto& step : statement.Cast<duckdb::MultiStatement>().statements) {
        Statement(*step);
      }
      break;
    case StatementType::PRAGMA_STATEMENT:
      Pragma(statement.Cast<duckdb::PragmaStatement>());
      break;
    default:
      break;  // writes only, or refused by kind before anything else looks at it
  }
}

bool NamesVariant(const duckdb::ParsedExpression& type_expression) {
  if (type_expression.GetExpressionClass() != duckdb::ExpressionClass::TYPE) return false;
  const auto& type = type_expression.Cast<duckdb::TypeExpression>();
  if (duckdb::StringUtil::CIEquals(type.GetTypeName().GetIdentifierName(), "variant")) {
    return true;
  }
  return std::any_of(type.GetChildren().begin(), type.GetChildren().end(),
                     [](const auto& child) { return child && NamesVariant(*child); });
}

bool NamesVariant(const duckdb::LogicalType& type) {
  if (type.id() == duckdb::LogicalTypeId::UNBOUND) {
    const auto& expression = duckdb::UnboundType::GetTypeExpression(type);
    return expression && NamesVariant(*expression);
  }
  return duckdb::TypeVisitor::Contains(type, duckdb::LogicalTypeId::VARIANT);
}

void ReadWalker::Create(const duckdb::CreateInfo& info) {
  if (info.type == duckdb::CatalogType::TABLE_ENTRY) {
    const auto& table = info.Cast<duckdb::CreateTableInfo>();
    if (table.query) Statement(*table.query);
    for (const auto& column : table.columns.Logical()) Column(column);
    for (const auto& constraint : table.constraints) Constraint(*constraint);
  } else if (info.type == duckdb::CatalogType::VIEW_ENTRY) {
    const auto& view = info.Cast<duckdb::CreateViewInfo>();
    if (view.query) Statement(*view.query);
  } else if (info.type == duckdb::CatalogType::TYPE_ENTRY) {
    const auto& type = info.Cast<duckdb::CreateTypeInfo>();
    if (type.query) Statement(*type.query);  // CREATE TYPE ... AS ENUM (SELECT ...)
    if (NamesVariant(type.type)) out_->makes_variant = true;
  }
}

void ReadWalker::Pragma(const duckdb::PragmaStatement& pragma) {
  // table_info('t') and show('t') describe a table: read as naming it.
  const auto& info = *pragma.info;
  const std::string name = Lower(info.name.GetIdentifierName());
  if (name == "show_tables") out_->listings.push_back("tables");
  if ((name == "table_info" || name == "show") && !info.parameters.empty()) {
    auto text = ConstantText(*info.parameters[0]);
    if (!text) {
      Unknown("a PRAGMA whose table is not a constant");
    } else {
      try {
        Table(EntryOf(duckdb::QualifiedName::Parse(*text)));
      } catch (const std::exception&) {
        Unknown("a PRAGMA table name that does not parse");
      }
    }
  }
  for (const auto& parameter : info.parameters) Expr(*parameter);
}

void ReadWalker::Column(const duckdb::ColumnDefinition& column) {
  if (NamesVariant(column.Type())) out_->makes_variant = true;
  if (column.HasDefaultValue()) Expr(column.DefaultValue());
  if (column.Generated()) Expr(column.GeneratedExpression());
}

void ReadWalker::Constraint(const duckdb::Constraint& constraint) {
  if (constraint.type == duckdb::ConstraintType::CHECK) {
    const auto& check = constraint.Cast<duckdb::CheckConstraint>();
    if (check.expression) Expr(*check.expression);
  }
}

// The expressions an ALTER TABLE brings (a new column's default, SET DEFAULT, a type
// change's USING, a CHECK, partitioning and options); other ALTERs carry none.
void ReadWalker::Alter(const duckdb::AlterInfo& info) {
  if (info.type != duckdb::AlterType::ALTER_TABLE) return;
  const auto& table = info.Cast<duckdb::AlterTableInfo>();
  using duckdb::AlterTableType;
  switch (table.alter_table_type) {
    case AlterTableType::ADD_COLUMN:
      Column(table.Cast<duckdb::AddColumnInfo>().new_column);
      break;
    case AlterTableType::ADD_FIELD:
      Column(table.Cast<duckdb::AddFieldInfo>().new_field);
      break;
    case AlterTableType::SET_DEFAULT: {
      const auto& set = table.Cast<duckdb::SetDefaultInfo>();
      if (set.expression) Expr(*set.expression);
      break;
    }
    case AlterTableType::ALTER_COLUMN_TYPE: {
      const auto& change = table.Cast<duckdb::ChangeColumnTypeInfo>();
      if (change.expression) Expr(*change.expression);
      if (NamesVariant(change.target_type)) out_->makes_variant = true;
      break;
    }
    case AlterTableType::ADD_CONSTRAINT: {
      const auto& add = table.Cast<duckdb::AddConstraintInfo>();
      if (add.constraint) Constraint(*add.constraint);
      break;
    }
    case AlterTableType::SET_PARTITIONED_BY:
      for (const auto& e : table.Cast<duckdb::SetPartitionedByInfo>().partition_keys) {
        if (e) Expr(*e);
      }
      break;
    case AlterTableType::SET_SORTED_BY:
      for (const auto& order : table.Cast<duckdb::SetSortedByInfo>().orders) {
        if (order.expression) Expr(*order.expression);
      }
      break;
    case AlterTableType::SET_TABLE_OPTIONS:
      for (const auto& option : table.Cast<duckdb::SetTableOptionsInfo>().table_options) {
        if (option.second) Expr(*option.second);
      }
      break;
    default:
      break;
  }
}

StatementReads ReadsOf(const duckdb::SQLStatement& statement) {
  StatementReads reads;
  ReadWalker(&reads).Statement(statement);
  return reads;
}

StatementReads ReadsOf(const duckdb::QueryNode& node) {
  StatementReads reads;
  ReadWalker(&reads).Node(node);
  return reads;
}

StatementReads ReadsOf(const duckdb::ParsedExpression& expression) {
  StatementReads reads;
  ReadWalker(&reads).Expression(expression);
  return reads;
}

}  // namespace arrowport::storage
