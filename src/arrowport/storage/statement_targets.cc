#include "arrowport/storage/statement_targets.h"

#include <duckdb/common/enums/catalog_type.hpp>
#include <duckdb/common/enums/statement_type.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/transaction/transaction_context.hpp>
#include <duckdb/parser/parsed_data/create_index_info.hpp>
#include <duckdb/parser/parser.hpp>
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
#include <duckdb/parser/tableref/basetableref.hpp>
#include <duckdb/planner/binder.hpp>
#include <duckdb/planner/bound_parameter_map.hpp>
#include <duckdb/planner/expression/bound_parameter_data.hpp>

#include <exception>

#include "arrowport/storage/duckdb_handle.h"

namespace arrowport::storage {

namespace {

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
                      std::vector<StatementTarget>* out, bool* copy_to_file) {
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
      if (info.is_from) {
        out->push_back(FromName(info.GetQualifiedName()));
      } else if (copy_to_file != nullptr) {
        *copy_to_file = true;
      }
      return arrow::Status::OK();
    }
    case StatementType::EXPLAIN_STATEMENT:
      // EXPLAIN ANALYZE runs its statement.
      return Collect(*statement.Cast<duckdb::ExplainStatement>().stmt, out, copy_to_file);
    default:
      return arrow::Status::OK();
  }
}

}  // namespace

arrow::Result<std::vector<StatementTarget>> WriteTargets(duckdb_connection connection,
                                                         const std::string& sql,
                                                         bool* copy_to_file) {
  std::vector<StatementTarget> out;
  if (copy_to_file != nullptr) *copy_to_file = false;
  ClientContextHandle c_context;
  duckdb_connection_get_client_context(connection, c_context.out());
  if (c_context.get() == nullptr) return arrow::Status::IOError("connection has no context");
  // The C API's client context handle is this wrapper (duckdb/main/capi/capi_internal.hpp).
  auto& context = reinterpret_cast<duckdb::CClientContextWrapper*>(c_context.get())->context;
  try {
    duckdb::Parser parser(context);
    parser.ParseQuery(sql);
    if (parser.statements.size() != 1) {
      return arrow::Status::Invalid("expected exactly one SQL statement, got ",
                                    parser.statements.size());
    }
    ARROW_RETURN_NOT_OK(Collect(*parser.statements[0], &out, copy_to_file));
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("cannot parse the statement: ", e.what());
  }
  return out;
}

}  // namespace arrowport::storage

namespace arrowport::storage {

arrow::Result<std::vector<std::string>> ReadTables(duckdb_connection connection,
                                                   const std::string& sql,
                                                   const std::vector<std::string>& parameters) {
  ClientContextHandle c_context;
  duckdb_connection_get_client_context(connection, c_context.out());
  if (c_context.get() == nullptr) return arrow::Status::IOError("connection has no context");
  auto& context = reinterpret_cast<duckdb::CClientContextWrapper*>(c_context.get())->context;
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
      binder->Bind(*parser.statements[0]);
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
  ClientContextHandle c_context;
  duckdb_connection_get_client_context(connection, c_context.out());
  if (c_context.get() == nullptr) return true;  // unknown: assume the careful answer
  auto& context = reinterpret_cast<duckdb::CClientContextWrapper*>(c_context.get())->context;
  return context.transaction.HasActiveTransaction();
}

arrow::Result<StatementTarget> ParseQualifiedName(const std::string& text) {
  try {
    return FromName(duckdb::QualifiedName::Parse(text));
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("cannot read the table name '", text, "': ", e.what());
  }
}

}  // namespace arrowport::storage
