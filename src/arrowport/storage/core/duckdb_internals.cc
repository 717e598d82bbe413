#include "arrowport/storage/core/duckdb_internals.h"

#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry/table_catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/table_function_catalog_entry.hpp>
#include <duckdb/catalog/entry_lookup_info.hpp>
#include <duckdb/common/error_data.hpp>
#include <duckdb/main/client_config.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/main/client_data.hpp>
#include <duckdb/main/config.hpp>
#include <duckdb/main/connection.hpp>
#include <duckdb/main/attached_database.hpp>
#include <duckdb/main/database.hpp>
#include <duckdb/main/valid_checker.hpp>
#include <duckdb/main/prepared_statement.hpp>
#include <duckdb/main/prepared_statement_data.hpp>
#include <duckdb/main/settings.hpp>
#include <duckdb/parallel/task_scheduler.hpp>
#include <duckdb/parser/constraints/not_null_constraint.hpp>
#include <duckdb/parser/constraints/unique_constraint.hpp>
#include <duckdb/storage/table_storage_info.hpp>
#include <duckdb/parser/parser.hpp>
#include <duckdb/parser/query_node/delete_query_node.hpp>
#include <duckdb/parser/query_node/insert_query_node.hpp>
#include <duckdb/parser/query_node/merge_query_node.hpp>
#include <duckdb/parser/query_node/update_query_node.hpp>
#include <duckdb/parser/statement/delete_statement.hpp>
#include <duckdb/parser/statement/insert_statement.hpp>
#include <duckdb/parser/statement/merge_into_statement.hpp>
#include <duckdb/parser/statement/update_statement.hpp>
#include <duckdb/planner/binder.hpp>
#include <duckdb/planner/bound_parameter_map.hpp>
#include <duckdb/planner/expression/bound_parameter_data.hpp>
#include <duckdb/transaction/transaction_context.hpp>

#include <exception>

#include "arrowport/storage/core/duckdb_error.h"

namespace arrowport::storage {

duckdb::ClientContext* ClientContextOf(duckdb_connection connection) {
  // The connection owns its context; the C API's handle only wraps a reference
  // (duckdb/main/capi/capi_internal.hpp), so the context stays valid after it is gone.
  ClientContextHandle c_context;
  duckdb_connection_get_client_context(connection, c_context.out());
  if (c_context.get() == nullptr) return nullptr;
  return &reinterpret_cast<duckdb::CClientContextWrapper*>(c_context.get())->context;
}

std::function<bool()> DuckDBInstanceAlive(duckdb_connection connection) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return nullptr;
  duckdb::weak_ptr<duckdb::DatabaseInstance> instance = context->db;
  return [instance] { return !instance.expired(); };
}

void SkipCheckpointOnClose(duckdb_database database) {
  auto* wrapper = reinterpret_cast<duckdb::DatabaseWrapper*>(database);
  duckdb::DBConfig::GetConfig(*wrapper->database->instance).options.checkpoint_on_shutdown =
      false;
}

std::function<std::string()> InvalidationWatch(duckdb_connection connection,
                                               const std::string& catalog) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return nullptr;
  duckdb::weak_ptr<duckdb::DatabaseInstance> instance = context->db;
  duckdb::weak_ptr<duckdb::AttachedDatabase> attached;
  context->RunFunctionInTransaction([&] {
    auto& catalog_entry = duckdb::Catalog::GetCatalog(*context, duckdb::Identifier(catalog));
    attached = catalog_entry.GetAttached().shared_from_this();
  });
  return [instance, attached]() -> std::string {
    // The words DuckDB's statements fail with (ErrorManager::InvalidatedDatabase).
    if (auto db = instance.lock(); db && duckdb::ValidChecker::IsInvalidated(*db)) {
      return "database has been invalidated because of a previous fatal error: " +
             duckdb::ValidChecker::InvalidatedMessage(*db);
    }
    if (auto db = attached.lock(); db && duckdb::ValidChecker::IsInvalidated(*db)) {
      return duckdb::ValidChecker::InvalidatedMessage(*db);
    }
    return {};
  };
}

int64_t MemoryLimitBytes(duckdb_database database) {
  auto* wrapper = reinterpret_cast<duckdb::DatabaseWrapper*>(database);
  return static_cast<int64_t>(
      duckdb::DBConfig::GetConfig(*wrapper->database->instance).options.maximum_memory);
}

bool InTransaction(duckdb_connection connection) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return true;  // unknown: assume the careful answer
  return context->transaction.HasActiveTransaction();
}

arrow::Status BoundResultColumns(duckdb_connection connection,
                                 duckdb_prepared_statement prepared, const std::string& sql,
                                 std::vector<LogicalTypeHandle>* types,
                                 std::vector<std::string>* names) {
  duckdb::ClientContext* found = ClientContextOf(connection);
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

bool NamesTemporaryTable(duckdb_connection connection, const std::string& catalog,
                         const std::string& schema, const std::string& name) {
  bool temporary = false;
  auto kind = LookUpRelation(connection, catalog, schema, name, nullptr, nullptr, &temporary);
  if (kind.ok() && *kind == RelationKind::kMissing && catalog.empty() && !schema.empty()) {
    kind = LookUpRelation(connection, schema, "", name, nullptr, nullptr, &temporary);
  }
  return kind.ok() && temporary;
}

arrow::Result<RelationKind> LookUpRelation(duckdb_connection connection,
                                           const std::string& catalog,
                                           const std::string& schema, const std::string& name,
                                           std::vector<CatalogColumn>* columns,
                                           int64_t* estimated_rows, bool* temporary) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  RelationKind kind = RelationKind::kMissing;
  auto look_up = [&] {
    kind = RelationKind::kMissing;
    if (columns != nullptr) columns->clear();
    // Tables and views share one namespace: a lookup of a table finds a view too.
    duckdb::EntryLookupInfo lookup(
        duckdb::CatalogType::TABLE_ENTRY,
        duckdb::QualifiedName(duckdb::Identifier(catalog), duckdb::Identifier(schema),
                              duckdb::Identifier(name)));
    auto entry = duckdb::Catalog::GetEntry(*context, lookup, duckdb::OnEntryNotFound::RETURN_NULL);
    if (temporary != nullptr) *temporary = entry && entry->temporary;
    if (!entry) return;
    if (entry->type == duckdb::CatalogType::VIEW_ENTRY) {
      kind = RelationKind::kView;
      return;
    }
    if (entry->type != duckdb::CatalogType::TABLE_ENTRY) return;
    kind = RelationKind::kTable;
    auto& table = entry->Cast<duckdb::TableCatalogEntry>();
    if (estimated_rows != nullptr) {
      const auto cardinality = table.GetStorageInfo(*context).cardinality;
      *estimated_rows =
          cardinality.IsValid() ? static_cast<int64_t>(cardinality.GetIndex()) : -1;
    }
    if (columns == nullptr) return;
    const duckdb::ColumnList& list = table.GetColumns();
    std::vector<bool> not_null(list.LogicalColumnCount(), false);
    auto mark = [&](duckdb::idx_t index) {
      if (index < not_null.size()) not_null[index] = true;
    };
    for (const auto& constraint : table.GetConstraints()) {
      if (constraint->type == duckdb::ConstraintType::NOT_NULL) {
        mark(constraint->Cast<duckdb::NotNullConstraint>().index.index);
      } else if (constraint->type == duckdb::ConstraintType::UNIQUE) {
        // A primary key's columns are NOT NULL whether or not the table says so again.
        const auto& unique = constraint->Cast<duckdb::UniqueConstraint>();
        if (!unique.IsPrimaryKey()) continue;
        if (unique.HasIndex()) {
          mark(unique.GetIndex().index);
        } else {
          for (const auto& column : unique.GetColumnNames()) {
            if (list.ColumnExists(column)) mark(list.GetColumn(column).Logical().index);
          }
        }
      }
    }
    for (const auto& column : list.Logical()) {
      CatalogColumn out;
      out.name = column.Name().GetIdentifierName();
      out.type_sql = column.Type().ToString();
      // The C API's logical type handle is a heap LogicalType (duckdb_create_logical_type).
      out.type = LogicalTypeHandle(
          reinterpret_cast<duckdb_logical_type>(new duckdb::LogicalType(column.Type())));
      out.nullable = !not_null[column.Logical().index];
      columns->push_back(std::move(out));
    }
  };
  try {
    // Inside the client's open transaction, read in it directly: an error passing through
    // RunFunctionInTransaction would mark that transaction aborted.
    if (context->transaction.HasActiveTransaction()) {
      look_up();
    } else {
      context->RunFunctionInTransaction(look_up);
    }
  } catch (const std::exception& e) {
    if (columns != nullptr) columns->clear();
    duckdb::ErrorData error(e);
    return TranslateDuckDBError(static_cast<int>(error.Type()), error.Message());
  }
  return kind;
}

arrow::Result<bool> HasReturning(duckdb_connection connection, const std::string& sql) {
  duckdb::ClientContext* context = ClientContextOf(connection);
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
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return false;
  return !context->transaction.IsAutoCommit();
}

arrow::Status RunTransactionStep(duckdb_connection connection, TransactionStep step) {
  // The C API's connection is DuckDB's C++ Connection (duckdb/main/capi/duckdb-c.cpp).
  auto* conn = reinterpret_cast<duckdb::Connection*>(connection);
  try {
    switch (step) {
      case TransactionStep::kBegin:
        conn->BeginTransaction();
        break;
      case TransactionStep::kCommit:
        conn->Commit();
        break;
      case TransactionStep::kRollback:
        conn->Rollback();
        break;
    }
  } catch (const std::exception& e) {
    duckdb::ErrorData error(e);
    return TranslateDuckDBError(static_cast<int>(error.Type()), error.Message());
  }
  return arrow::Status::OK();
}

int DuckDBThreads(duckdb_connection connection) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return 1;
  return std::max<int>(1, static_cast<int>(
                              duckdb::TaskScheduler::GetScheduler(*context).NumberOfThreads()));
}

void SetStreamingBufferBytes(duckdb_connection connection, int64_t bytes) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return;
  duckdb::ClientConfig::GetConfig(*context).max_streaming_buffer_size =
      static_cast<duckdb::idx_t>(std::max<int64_t>(bytes, 0));
}

OptimizerOff::OptimizerOff(duckdb_connection connection)
    : context_(ClientContextOf(connection)) {
  if (context_ == nullptr) return;
  auto& settings = duckdb::ClientConfig::GetConfig(*context_).user_settings;
  // A value of the connection's own is left as it is (nothing sets one today: SET is
  // refused), and so is the optimizer then.
  if (settings.IsSet(duckdb::EnableOptimizerSetting::SettingIndex)) {
    context_ = nullptr;
    return;
  }
  settings.SetUserSetting(duckdb::EnableOptimizerSetting::SettingIndex,
                          duckdb::Value::BOOLEAN(false));
}

OptimizerOff::~OptimizerOff() {
  if (context_ == nullptr) return;
  duckdb::ClientConfig::GetConfig(*context_).user_settings.ClearSetting(
      duckdb::EnableOptimizerSetting::SettingIndex);
}

bool PlanIsCurrent(duckdb_prepared_statement statement) {
  auto* wrapper = reinterpret_cast<duckdb::PreparedStatementWrapper*>(statement);
  if (wrapper == nullptr || !wrapper->statement || wrapper->statement->HasError()) {
    return false;
  }
  auto context = wrapper->statement->TryGetContext();
  if (!context) return false;
  bool current = false;
  auto judge = [&] {
    auto& prepared = duckdb::ClientData::Get(*context).prepared_statements;
    auto found = prepared.find(duckdb::Identifier(wrapper->statement->GetName()));
    current = found != prepared.end() && found->second &&
              !found->second->RequireRebind(*context, nullptr);
  };
  try {
    if (context->transaction.HasActiveTransaction()) {
      judge();
    } else {
      context->RunFunctionInTransaction(judge);
    }
  } catch (const std::exception&) {
    return false;
  }
  return current;
}

arrow::Status DisableArrowScanPushdown(duckdb_connection connection) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  try {
    context->RunFunctionInTransaction([&] {
      auto& scan = duckdb::Catalog::GetEntry<duckdb::TableFunctionCatalogEntry>(
          *context, duckdb::QualifiedName(duckdb::Identifier("system"), duckdb::Identifier("main"),
                                          duckdb::Identifier("arrow_scan")));
      scan.functions.ApplyToFunctions([](duckdb::TableFunction& function) {
        function.projection_pushdown = false;
        function.filter_pushdown = false;
        function.filter_prune = false;
      });
    });
  } catch (const std::exception& e) {
    return arrow::Status::IOError("cannot configure DuckDB's arrow_scan: ",
                                  duckdb::ErrorData(e).Message());
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
