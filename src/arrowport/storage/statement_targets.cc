#include "arrowport/storage/statement_targets.h"

#include <duckdb/common/enums/catalog_type.hpp>
#include <duckdb/common/enums/statement_type.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/transaction/transaction_context.hpp>
#include <duckdb/parser/parsed_data/create_index_info.hpp>
#include <duckdb/parser/common_table_expression_info.hpp>
#include <duckdb/parser/expression/function_expression.hpp>
#include <duckdb/parser/expression/subquery_expression.hpp>
#include <duckdb/parser/parsed_expression_iterator.hpp>
#include <duckdb/parser/parser.hpp>
#include <duckdb/parser/statement/call_statement.hpp>
#include <duckdb/parser/tableref/subqueryref.hpp>
#include <duckdb/parser/tableref/table_function_ref.hpp>
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
#include <duckdb/parser/statement/update_statement.hpp>
#include <duckdb/parser/expression/star_expression.hpp>
#include <duckdb/parser/query_node/select_node.hpp>
#include <duckdb/parser/statement/select_statement.hpp>
#include <duckdb/parser/tableref/basetableref.hpp>
#include <duckdb/parser/tableref/joinref.hpp>
#include <duckdb/planner/binder.hpp>
#include <duckdb/planner/bound_parameter_map.hpp>
#include <duckdb/planner/expression/bound_parameter_data.hpp>

#include <algorithm>
#include <cctype>
#include <exception>

#include "arrowport/storage/duckdb_handle.h"

namespace arrowport::storage {

namespace {

// The C++ client context of a C API connection. The connection owns it; the C API's
// handle only wraps a reference (duckdb/main/capi/capi_internal.hpp), so the context
// stays valid after the handle is gone.
duckdb::ClientContext* ContextOf(duckdb_connection connection) {
  ClientContextHandle c_context;
  duckdb_connection_get_client_context(connection, c_context.out());
  if (c_context.get() == nullptr) return nullptr;
  return &reinterpret_cast<duckdb::CClientContextWrapper*>(c_context.get())->context;
}

StatementTarget FromName(const duckdb::QualifiedName& name) {
  StatementTarget target;
  target.catalog = name.Catalog().GetIdentifierName();
  target.schema = name.Schema().GetIdentifierName();
  target.name = name.Name().GetIdentifierName();
  return target;
}

// A DML target is a base table; anything else there (a subquery) cannot be written, but
// is refused rather than guessed about.
arrow::Status AddTableRef(const duckdb::TableRef* ref, std::vector<StatementTarget>* out) {
  if (ref == nullptr || ref->type != duckdb::TableReferenceType::BASE_TABLE) {
    return arrow::Status::Invalid("the statement's target is not a plain table");
  }
  out->push_back(FromName(ref->Cast<duckdb::BaseTableRef>().GetQualifiedName()));
  return arrow::Status::OK();
}

arrow::Status Collect(const duckdb::SQLStatement& statement,
                      std::vector<StatementTarget>* out) {
  using duckdb::StatementType;
  switch (statement.type) {
    case StatementType::INSERT_STATEMENT:
      out->push_back(FromName(statement.Cast<duckdb::InsertStatement>().node->qualified_name));
      return arrow::Status::OK();
    case StatementType::UPDATE_STATEMENT:
      return AddTableRef(statement.Cast<duckdb::UpdateStatement>().node->table.get(), out);
    case StatementType::DELETE_STATEMENT:
      return AddTableRef(statement.Cast<duckdb::DeleteStatement>().node->table.get(), out);
    case StatementType::MERGE_INTO_STATEMENT:
      return AddTableRef(statement.Cast<duckdb::MergeIntoStatement>().node->target.get(), out);
    case StatementType::DROP_STATEMENT: {
      const auto& info = *statement.Cast<duckdb::DropStatement>().info;
      auto target = FromName(info.GetQualifiedName());
      target.is_schema = info.type == duckdb::CatalogType::SCHEMA_ENTRY;
      out->push_back(std::move(target));
      return arrow::Status::OK();
    }
    case StatementType::ALTER_STATEMENT:
      out->push_back(FromName(statement.Cast<duckdb::AlterStatement>().info->GetQualifiedName()));
      return arrow::Status::OK();
    case StatementType::CREATE_STATEMENT: {
      const auto& info = *statement.Cast<duckdb::CreateStatement>().info;
      auto target = FromName(info.GetQualifiedName());
      target.is_schema = info.type == duckdb::CatalogType::SCHEMA_ENTRY;
      out->push_back(target);
      if (info.type == duckdb::CatalogType::INDEX_ENTRY) {
        // The index lives beside its table: the table is what the statement touches.
        target.name = info.Cast<duckdb::CreateIndexInfo>().table.GetIdentifierName();
        out->push_back(std::move(target));
      }
      return arrow::Status::OK();
    }
    case StatementType::COPY_STATEMENT: {
      const auto& info = *statement.Cast<duckdb::CopyStatement>().info;
      if (info.is_from) out->push_back(FromName(info.GetQualifiedName()));
      return arrow::Status::OK();
    }
    case StatementType::EXPLAIN_STATEMENT:
      // EXPLAIN ANALYZE runs its statement.
      return Collect(*statement.Cast<duckdb::ExplainStatement>().stmt, out);
    default:
      return arrow::Status::OK();
  }
}

// `left` joined with `right` (a copy), or `left` alone when there is no `right`.
duckdb::unique_ptr<duckdb::TableRef> CrossWith(duckdb::unique_ptr<duckdb::TableRef> left,
                                            duckdb::TableRef* right) {
  if (right == nullptr) return left;
  auto join = duckdb::make_uniq<duckdb::JoinRef>(duckdb::JoinRefType::CROSS);
  join->left = std::move(left);
  join->right = right->Copy();
  return join;
}

void AddCopies(const duckdb::vector<duckdb::unique_ptr<duckdb::ParsedExpression>>& from,
               duckdb::SelectNode* node) {
  for (const auto& e : from) node->select_list.push_back(e->Copy());
}

// DuckDB's binder lists nothing for UPDATE, DELETE and MERGE in its name-extracting mode
// (their target must be a bound base table): a SELECT over the same tables and
// expressions (target, FROM/USING/source, SET values, conditions, RETURNING) reads
// exactly what they read. Null for other statements.
duckdb::unique_ptr<duckdb::SQLStatement> SelectReadingAsWrite(const duckdb::SQLStatement& st) {
  auto node = duckdb::make_uniq<duckdb::SelectNode>();
  switch (st.type) {
    case duckdb::StatementType::UPDATE_STATEMENT: {
      const auto& update = *st.Cast<duckdb::UpdateStatement>().node;
      node->from_table = CrossWith(update.table->Copy(), update.from_table.get());
      if (update.set_info) {
        AddCopies(update.set_info->expressions, node.get());
        if (update.set_info->condition) node->where_clause = update.set_info->condition->Copy();
      }
      AddCopies(update.returning_list, node.get());
      break;
    }
    case duckdb::StatementType::DELETE_STATEMENT: {
      const auto& del = *st.Cast<duckdb::DeleteStatement>().node;
      node->from_table = del.table->Copy();
      for (const auto& from : del.using_clauses) {
        node->from_table = CrossWith(std::move(node->from_table), from.get());
      }
      if (del.condition) node->where_clause = del.condition->Copy();
      AddCopies(del.returning_list, node.get());
      break;
    }
    case duckdb::StatementType::MERGE_INTO_STATEMENT: {
      const auto& merge = *st.Cast<duckdb::MergeIntoStatement>().node;
      node->from_table = CrossWith(merge.target->Copy(), merge.source.get());
      if (merge.join_condition) node->where_clause = merge.join_condition->Copy();
      for (const auto& entry : merge.actions) {
        for (const auto& action : entry.second) {
          if (action->condition) node->select_list.push_back(action->condition->Copy());
          AddCopies(action->expressions, node.get());
          if (action->update_info) AddCopies(action->update_info->expressions, node.get());
        }
      }
      AddCopies(merge.returning_list, node.get());
      break;
    }
    default:
      return nullptr;
  }
  if (node->select_list.empty()) {
    node->select_list.push_back(duckdb::make_uniq<duckdb::StarExpression>());
  }
  auto select = duckdb::make_uniq<duckdb::SelectStatement>();
  select->node = std::move(node);
  return select;
}

// Collects the table functions a parsed statement calls, wherever they are. DuckDB's
// iterator visits a node's own expressions and table references; subqueries (in
// expressions, FROM, CTEs, table function arguments) are walked from here.
class TableFunctionWalker {
 public:
  explicit TableFunctionWalker(std::vector<TableFunctionCall>* out) : out_(out) {}

  void Statement(duckdb::SQLStatement& statement) {
    using duckdb::StatementType;
    switch (statement.type) {
      case StatementType::SELECT_STATEMENT:
        Select(statement.Cast<duckdb::SelectStatement>().node.get());
        break;
      case StatementType::INSERT_STATEMENT: {
        auto& insert = *statement.Cast<duckdb::InsertStatement>().node;
        if (insert.select_statement) Select(insert.select_statement->node.get());
        break;
      }
      case StatementType::EXPLAIN_STATEMENT:
        Statement(*statement.Cast<duckdb::ExplainStatement>().stmt);
        break;
      case StatementType::CALL_STATEMENT: {
        auto& call = statement.Cast<duckdb::CallStatement>();
        if (call.function) Called(*call.function);
        break;
      }
      default:
        if (auto as_select = SelectReadingAsWrite(statement)) Statement(*as_select);
        break;
    }
  }

 private:
  void Select(duckdb::QueryNode* node) {
    if (node == nullptr) return;
    for (auto& entry : node->cte_map.map) {
      if (entry.second && entry.second->query_node) Select(entry.second->query_node.get());
    }
    duckdb::ParsedExpressionIterator::EnumerateQueryNodeChildren(
        *node, [this](duckdb::unique_ptr<duckdb::ParsedExpression>& e) { if (e) Expr(*e); },
        [this](duckdb::TableRef& ref) { Ref(ref); });
  }

  void Ref(duckdb::TableRef& ref) {
    switch (ref.type) {
      case duckdb::TableReferenceType::TABLE_FUNCTION: {
        auto& function = ref.Cast<duckdb::TableFunctionRef>();
        if (function.function) Called(*function.function);
        if (function.subquery) Select(function.subquery->node.get());
        break;
      }
      case duckdb::TableReferenceType::SUBQUERY: {
        auto& subquery = ref.Cast<duckdb::SubqueryRef>();
        if (subquery.subquery) Select(subquery.subquery->node.get());
        break;
      }
      case duckdb::TableReferenceType::JOIN: {
        auto& join = ref.Cast<duckdb::JoinRef>();
        if (join.left) Ref(*join.left);
        if (join.right) Ref(*join.right);
        if (join.condition) Expr(*join.condition);
        break;
      }
      default:
        break;
    }
  }

  void Called(duckdb::ParsedExpression& function) {
    TableFunctionCall call;
    if (function.GetExpressionClass() == duckdb::ExpressionClass::FUNCTION) {
      call.name =
          function.Cast<duckdb::FunctionExpression>().GetQualifiedName().Name().GetIdentifierName();
      std::transform(call.name.begin(), call.name.end(), call.name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
    call.has_parameter = HasParameter(function);
    out_->push_back(std::move(call));
    Expr(function);  // subqueries among its arguments
  }

  static bool HasParameter(duckdb::ParsedExpression& expr) {
    if (expr.GetExpressionClass() == duckdb::ExpressionClass::PARAMETER) return true;
    bool found = false;
    duckdb::ParsedExpressionIterator::EnumerateChildren(
        expr, [&found](duckdb::ParsedExpression& child) { found = found || HasParameter(child); });
    return found;
  }

  void Expr(duckdb::ParsedExpression& expr) {
    if (expr.GetExpressionClass() == duckdb::ExpressionClass::SUBQUERY) {
      auto& subquery = expr.Cast<duckdb::SubqueryExpression>().SubqueryMutable();
      if (subquery) Select(subquery->node.get());
    }
    duckdb::ParsedExpressionIterator::EnumerateChildren(
        expr, [this](duckdb::ParsedExpression& child) { Expr(child); });
  }

  std::vector<TableFunctionCall>* out_;
};

}  // namespace

arrow::Result<std::vector<StatementTarget>> WriteTargets(duckdb_connection connection,
                                                         const std::string& sql) {
  std::vector<StatementTarget> out;
  duckdb::ClientContext* found = ContextOf(connection);
  if (found == nullptr) return arrow::Status::IOError("connection has no context");
  auto& context = *found;
  try {
    duckdb::Parser parser(context);
    parser.ParseQuery(sql);
    if (parser.statements.size() != 1) {
      return arrow::Status::Invalid("expected exactly one SQL statement, got ",
                                    parser.statements.size());
    }
    ARROW_RETURN_NOT_OK(Collect(*parser.statements[0], &out));
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("cannot parse the statement: ", e.what());
  }
  return out;
}

}  // namespace arrowport::storage

namespace arrowport::storage {

arrow::Result<StatementEffects> ReadEffects(duckdb_connection connection,
                                            const std::string& sql) {
  duckdb::ClientContext* found = ContextOf(connection);
  if (found == nullptr) return arrow::Status::IOError("connection has no context");
  auto& context = *found;
  StatementEffects effects;
  try {
    duckdb::Parser parser(context);
    parser.ParseQuery(sql);
    if (parser.statements.size() != 1) {
      return arrow::Status::Invalid("expected exactly one SQL statement, got ",
                                    parser.statements.size());
    }
    auto& statement = *parser.statements[0];
    if (statement.type == duckdb::StatementType::COPY_STATEMENT) {
      effects.copies_to_file = !statement.Cast<duckdb::CopyStatement>().info->is_from;
    }
    TableFunctionWalker(&effects.table_functions).Statement(statement);
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("cannot parse the statement: ", e.what());
  }
  return effects;
}

arrow::Result<std::vector<std::string>> ReadTables(duckdb_connection connection,
                                                   const std::string& sql,
                                                   const std::vector<std::string>& parameters) {
  duckdb::ClientContext* found = ContextOf(connection);
  if (found == nullptr) return arrow::Status::IOError("connection has no context");
  auto& context = *found;
  std::vector<std::string> out;
  try {
    duckdb::Parser parser(context);
    parser.ParseQuery(sql);
    if (parser.statements.size() != 1) {
      return arrow::Status::Invalid("expected exactly one SQL statement");
    }
    auto extract = [&]() {
      auto binder = duckdb::Binder::CreateBinder(context);
      binder->SetBindingMode(duckdb::BindingMode::EXTRACT_QUALIFIED_NAMES);
      duckdb::identifier_map_t<duckdb::BoundParameterData> values;
      for (const auto& name : parameters) {
        values[duckdb::Identifier(name)] = duckdb::BoundParameterData(duckdb::Value());
      }
      duckdb::BoundParameterMap parameters(values);
      binder->SetParameters(parameters);
      auto as_select = SelectReadingAsWrite(*parser.statements[0]);
      binder->Bind(as_select ? *as_select : *parser.statements[0]);
      for (const auto& name : binder->GetTableNames()) out.push_back(name);
    };
    // Inside the client's open transaction, bind in it directly: a bind error passing
    // through RunFunctionInTransaction would mark that transaction aborted.
    if (context.transaction.HasActiveTransaction()) {
      extract();
    } else {
      context.RunFunctionInTransaction(extract);
    }
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("cannot list the tables the statement reads: ", e.what());
  }
  return out;
}

bool InTransaction(duckdb_connection connection) {
  duckdb::ClientContext* context = ContextOf(connection);
  if (context == nullptr) return true;  // unknown: assume the careful answer
  return context->transaction.HasActiveTransaction();
}

arrow::Status BoundResultColumns(duckdb_connection connection,
                                 duckdb_prepared_statement prepared, const std::string& sql,
                                 std::vector<LogicalTypeHandle>* types,
                                 std::vector<std::string>* names) {
  duckdb::ClientContext* found = ContextOf(connection);
  auto* wrapper = reinterpret_cast<duckdb::PreparedStatementWrapper*>(prepared);
  if (found == nullptr || wrapper == nullptr) {
    return arrow::Status::IOError("connection has no context");
  }
  auto& context = *found;
  try {
    duckdb::Parser parser(context);
    parser.ParseQuery(sql);
    if (parser.statements.size() != 1) {
      return arrow::Status::Invalid("expected exactly one SQL statement");
    }
    auto bind = [&]() {
      auto binder = duckdb::Binder::CreateBinder(context);
      // The bound values type the parameters, as when DuckDB rebinds a statement to run
      // it with them.
      duckdb::BoundParameterMap parameters(wrapper->values);
      binder->SetParameters(parameters);
      auto bound = binder->Bind(*parser.statements[0]);
      for (size_t i = 0; i < bound.types.size(); ++i) {
        // The C API's logical type handle is a heap LogicalType (duckdb_create_logical_type).
        types->emplace_back(
            reinterpret_cast<duckdb_logical_type>(new duckdb::LogicalType(bound.types[i])));
        names->push_back(i < bound.names.size() ? bound.names[i].GetIdentifierName() : "");
      }
    };
    // Inside the client's open transaction, bind in it directly: a bind error passing
    // through RunFunctionInTransaction would mark that transaction aborted.
    if (context.transaction.HasActiveTransaction()) {
      bind();
    } else {
      context.RunFunctionInTransaction(bind);
    }
  } catch (const std::exception& e) {
    types->clear();
    names->clear();
    return arrow::Status::Invalid("cannot type the statement's result: ", e.what());
  }
  return arrow::Status::OK();
}

arrow::Result<bool> HasReturning(duckdb_connection connection, const std::string& sql) {
  duckdb::ClientContext* context = ContextOf(connection);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  try {
    duckdb::Parser parser(*context);
    parser.ParseQuery(sql);
    if (parser.statements.size() != 1) {
      return arrow::Status::Invalid("expected exactly one SQL statement");
    }
    const auto& statement = *parser.statements[0];
    switch (statement.type) {
      case duckdb::StatementType::INSERT_STATEMENT:
        return !statement.Cast<duckdb::InsertStatement>().node->returning_list.empty();
      case duckdb::StatementType::UPDATE_STATEMENT:
        return !statement.Cast<duckdb::UpdateStatement>().node->returning_list.empty();
      case duckdb::StatementType::DELETE_STATEMENT:
        return !statement.Cast<duckdb::DeleteStatement>().node->returning_list.empty();
      case duckdb::StatementType::MERGE_INTO_STATEMENT:
        return !statement.Cast<duckdb::MergeIntoStatement>().node->returning_list.empty();
      default:
        return false;
    }
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("cannot parse the statement: ", e.what());
  }
}

bool ExplicitTransactionOpen(duckdb_connection connection) {
  duckdb::ClientContext* context = ContextOf(connection);
  if (context == nullptr) return false;
  return !context->transaction.IsAutoCommit();
}

arrow::Result<StatementTarget> ParseQualifiedName(const std::string& text) {
  try {
    return FromName(duckdb::QualifiedName::Parse(text));
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("cannot read the table name '", text, "': ", e.what());
  }
}

}  // namespace arrowport::storage
