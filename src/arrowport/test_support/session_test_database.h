#pragma once

// Test support (header only): an in-memory database behind a QueryPipeline, for unit
// tests of session connections: query/'s own, and flight/sql's SessionRegistry, which
// reaches DuckDB only through query/.

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/api.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::query::testing {

class SessionTestDatabase {
 public:
  SessionTestDatabase() {
    storage::DatabaseOptions options;
    options.path = ":memory:";
    database_ = storage::Database::Open(options).ValueOrDie();
    pipeline_ = std::make_unique<QueryPipeline>(database_.get());
  }

  QueryPipeline& pipeline() { return *pipeline_; }
  /// A new session connection (QueryPipeline::OpenSession).
  std::shared_ptr<SessionConnection> Open() {
    return pipeline_->OpenSession().ValueOrDie();
  }
  /// The server's own SQL on a connection of its own.
  arrow::Status Execute(const std::string& sql) {
    ARROW_ASSIGN_OR_RAISE(auto connection, database_->Connect());
    return connection->Execute(sql);
  }
  /// The server's own SQL under `lease`.
  static arrow::Status ExecuteOn(SessionLease& lease, const std::string& sql) {
    return lease.storage_lease(StorageAccess{})->Execute(sql);
  }
  /// The one integer `sql` returns.
  int64_t Count(const std::string& sql) {
    auto table = database_->Connect().ValueOrDie()->QueryTable(sql).ValueOrDie();
    return std::stoll(table->column(0)->GetScalar(0).ValueOrDie()->ToString());
  }

 private:
  std::unique_ptr<storage::Database> database_;
  std::unique_ptr<QueryPipeline> pipeline_;
};

}  // namespace arrowport::query::testing
