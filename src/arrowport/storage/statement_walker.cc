// What a statement reads and calls (statement_walker.h: ReadsOf), walking its parse tree.
#include "arrowport/storage/statement_walker.h"

#include <duckdb/common/enums/catalog_type.hpp>
#include <duckdb/common/enums/statement_type.hpp>
#include <duckdb/parser/common_table_expression_info.hpp>
#include <duckdb/parser/expression/cast_expression.hpp>
#include <duckdb/parser/expression/constant_expression.hpp>
#include <duckdb/parser/expression/function_expression.hpp>
#include <duckdb/parser/expression/subquery_expression.hpp>
#include <duckdb/parser/constraints/check_constraint.hpp>
#include <duckdb/parser/parsed_data/alter_table_info.hpp>
#include <duckdb/parser/parsed_data/create_index_info.hpp>
#include <duckdb/parser/parsed_data/create_table_info.hpp>
#include <duckdb/parser/parsed_data/create_type_info.hpp>
#include <duckdb/parser/parsed_data/create_view_info.hpp>
#include <duckdb/parser/parsed_expression_iterator.hpp>
#include <duckdb/parser/query_node/cte_node.hpp>
#include <duckdb/parser/query_node/delete_query_node.hpp>
#include <duckdb/parser/query_node/insert_query_node.hpp>
#include <duckdb/parser/query_node/merge_query_node.hpp>
#include <duckdb/parser/query_node/recursive_cte_node.hpp>
#include <duckdb/parser/query_node/select_node.hpp>
#include <duckdb/parser/query_node/set_operation_node.hpp>
#include <duckdb/parser/query_node/update_query_node.hpp>
#include <duckdb/parser/statement/alter_statement.hpp>
#include <duckdb/parser/statement/call_statement.hpp>
#include <duckdb/parser/statement/copy_statement.hpp>
#include <duckdb/parser/statement/create_statement.hpp>
#include <duckdb/parser/statement/delete_statement.hpp>
#include <duckdb/parser/statement/drop_statement.hpp>
#include <duckdb/parser/statement/explain_statement.hpp>
#include <duckdb/parser/statement/insert_statement.hpp>
#include <duckdb/parser/statement/merge_into_statement.hpp>
#include <duckdb/parser/statement/multi_statement.hpp>
#include <duckdb/parser/statement/pragma_statement.hpp>
#include <duckdb/parser/statement/select_statement.hpp>
#include <duckdb/parser/statement/update_statement.hpp>
#include <duckdb/parser/tableref/basetableref.hpp>
#include <duckdb/parser/tableref/expressionlistref.hpp>
#include <duckdb/parser/tableref/joinref.hpp>
#include <duckdb/parser/tableref/pivotref.hpp>
#include <duckdb/parser/tableref/showref.hpp>
#include <duckdb/parser/tableref/subqueryref.hpp>
#include <duckdb/parser/tableref/table_function_ref.hpp>

#include <algorithm>
#include <cctype>

namespace arrowport::storage {

namespace {

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool HasParameter(const duckdb::ParsedExpression& expr) {
  if (expr.GetExpressionClass() == duckdb::ExpressionClass::PARAMETER) return true;
  bool found = false;
  duckdb::ParsedExpressionIterator::EnumerateChildren(
      expr, [&found](const duckdb::ParsedExpression& child) {
        found = found || HasParameter(child);
      });
  return found;
}

// The text of a constant (through casts: 1e9::BIGINT), or nullopt.
std::optional<std::string> ConstantText(const duckdb::ParsedExpression& expr) {
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

// Walks a parse tree for what it reads and calls. CTE names are scoped: a reference to
// one inside its WITH is not a table.
class ReadWalker {
 public:
  explicit ReadWalker(StatementReads* out) : out_(out) {}

  void Statement(const duckdb::SQLStatement& statement) {
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
      case StatementType::CREATE_STATEMENT: {
        const auto& info = *statement.Cast<duckdb::CreateStatement>().info;
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
        }
        break;
      }
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
      case StatementType::PRAGMA_STATEMENT: {
        // table_info('t') and show('t') describe a table: read as naming it.
        const auto& info = *statement.Cast<duckdb::PragmaStatement>().info;
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
        break;
      }
      default:
        break;  // writes only, or refused by kind before anything else looks at it
    }
  }

  void Expression(const duckdb::ParsedExpression& expr) { Expr(expr); }

  void Node(const duckdb::QueryNode& node) {
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
      case duckdb::QueryNodeType::RECURSIVE_CTE_NODE: {
        // The anchor (left) does not see the CTE; the recursive part (right) does.
        const auto& cte = node.Cast<duckdb::RecursiveCTENode>();
        if (cte.left) Node(*cte.left);
        const size_t before = ctes_.size();
        ctes_.push_back({Lower(cte.ctename.GetIdentifierName()), true, {}});
        // DuckDB runs the recursive part again at each step, with what it reads.
        ++recursive_parts_;
        if (cte.right) Node(*cte.right);
        --recursive_parts_;
        ctes_.resize(before);
        for (const auto& e : cte.key_targets) Expr(*e);
        break;
      }
      case duckdb::QueryNodeType::CTE_NODE: {
        const auto& cte = node.Cast<duckdb::CTENode>();
        Cte(cte.ctename, cte.query.get(),
            cte.materialized == duckdb::CTEMaterialize::CTE_MATERIALIZE_ALWAYS);
        if (cte.child) Node(*cte.child);
        break;
      }
      case duckdb::QueryNodeType::INSERT_QUERY_NODE: {
        const auto& insert = node.Cast<duckdb::InsertQueryNode>();
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
        break;
      }
      case duckdb::QueryNodeType::UPDATE_QUERY_NODE: {
        const auto& update = node.Cast<duckdb::UpdateQueryNode>();
        Written(update.table.get());
        if (update.table) Ref(*update.table);
        if (update.from_table) Ref(*update.from_table);
        if (update.set_info) {
          for (const auto& e : update.set_info->expressions) Expr(*e);
          if (update.set_info->condition) Expr(*update.set_info->condition);
        }
        for (const auto& e : update.returning_list) Expr(*e);
        break;
      }
      case duckdb::QueryNodeType::DELETE_QUERY_NODE: {
        const auto& del = node.Cast<duckdb::DeleteQueryNode>();
        Written(del.table.get());
        if (del.table) Ref(*del.table);
        for (const auto& using_clause : del.using_clauses) Ref(*using_clause);
        if (del.condition) Expr(*del.condition);
        for (const auto& e : del.returning_list) Expr(*e);
        break;
      }
      case duckdb::QueryNodeType::MERGE_QUERY_NODE: {
        const auto& merge = node.Cast<duckdb::MergeQueryNode>();
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
        break;
      }
      default:
        Unknown("a query of a kind the sandbox does not know");
        break;
    }
    // ORDER BY, LIMIT, DISTINCT ON: their expressions may hold subqueries.
    duckdb::ParsedExpressionIterator::EnumerateQueryNodeModifiers(
        const_cast<duckdb::QueryNode&>(node),
        [this](duckdb::unique_ptr<duckdb::ParsedExpression>& e) {
          if (e) Expr(*e);
        });
    ctes_.resize(scope);
  }

 private:
  void Ref(const duckdb::TableRef& ref) {
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

  void Function(const duckdb::ParsedExpression& expr, bool table) {
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
    out_->functions.push_back(std::move(call));
    // Arguments (and FILTER, ORDER BY) may hold subqueries and more calls.
    duckdb::ParsedExpressionIterator::EnumerateChildren(
        expr, [this](const duckdb::ParsedExpression& child) { Expr(child); });
  }

  void Expr(const duckdb::ParsedExpression& expr) {
    switch (expr.GetExpressionClass()) {
      case duckdb::ExpressionClass::FUNCTION:
        Function(expr, /*table=*/false);
        return;
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
  void Written(const duckdb::TableRef* ref) {
    if (ref == nullptr || ref->type != duckdb::TableReferenceType::BASE_TABLE) {
      Unknown("a data-changing statement whose target is not a plain table");
      return;
    }
    out_->writes.push_back(EntryOf(ref->Cast<duckdb::BaseTableRef>().GetQualifiedName()));
  }

  void Column(const duckdb::ColumnDefinition& column) {
    if (column.HasDefaultValue()) Expr(column.DefaultValue());
    if (column.Generated()) Expr(column.GeneratedExpression());
  }

  void Constraint(const duckdb::Constraint& constraint) {
    if (constraint.type == duckdb::ConstraintType::CHECK) {
      const auto& check = constraint.Cast<duckdb::CheckConstraint>();
      if (check.expression) Expr(*check.expression);
    }
  }

  // The expressions an ALTER TABLE brings (a new column's default, SET DEFAULT, a type
  // change's USING, a CHECK, partitioning and options); other ALTERs carry none.
  void Alter(const duckdb::AlterInfo& info) {
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

  // One name of a WITH: the tables its body reads (indexes into out_->tables), through
  // the CTEs it reads too, and whether DuckDB must materialise it (AS MATERIALIZED).
  struct CteScope {
    std::string name;
    bool materialized = false;
    std::vector<size_t> tables;
  };

  // A CTE's body is walked where it is defined, then its name comes into scope.
  void Cte(const duckdb::Identifier& name, const duckdb::QueryNode* body,
           bool materialized) {
    bodies_.emplace_back();
    if (body != nullptr) Node(*body);
    CteScope scope{Lower(name.GetIdentifierName()), materialized,
                   std::move(bodies_.back())};
    bodies_.pop_back();
    ctes_.push_back(std::move(scope));
  }

  void Table(NamedEntry entry) {
    entry.rescanned = recursive_parts_ > 0;
    for (auto& body : bodies_) body.push_back(out_->tables.size());
    out_->tables.push_back(std::move(entry));
  }

  // A CTE named in a recursive part is run again at each step with it, unless DuckDB
  // materialised it first (it may not without AS MATERIALIZED).
  void CteRead(const CteScope& cte) {
    for (const size_t table : cte.tables) {
      if (recursive_parts_ > 0 && !cte.materialized) out_->tables[table].rescanned = true;
      for (auto& body : bodies_) body.push_back(table);
    }
  }

  const CteScope* InCteScope(const std::string& name) const {
    const std::string lower = Lower(name);
    // The innermost WITH of that name hides the outer ones.
    for (auto it = ctes_.rbegin(); it != ctes_.rend(); ++it) {
      if (it->name == lower) return &*it;
    }
    return nullptr;
  }

  void Unknown(const char* what) {
    if (out_->unknown.empty()) out_->unknown = what;
  }

  StatementReads* out_;
  std::vector<CteScope> ctes_;
  // The CTE bodies being walked, innermost last: each collects the tables it reads.
  std::vector<std::vector<size_t>> bodies_;
  int recursive_parts_ = 0;  // recursive parts of WITH RECURSIVE around the walk
};

}  // namespace

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
