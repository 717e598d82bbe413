#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <arrow/flight/sql/server.h>

#include "arrowport/common/principal.h"
#include "arrowport/flight/sql/session_registry.h"

namespace arrowport {
class Logger;
namespace ingest { class IngestPipeline; }
namespace query {
class PreparedQuery;
class QueryPipeline;
struct ReadPlan;
class SessionConnection;
class SessionLease;
}  // namespace query
}  // namespace arrowport

namespace arrowport::flight::sql {

/// What the Flight SQL adapter needs; all pointers outlive the service.
struct FlightSqlDeps {
  ingest::IngestPipeline* ingest = nullptr;
  /// The endpoints of a read's plan (a cluster's spread over its nodes); empty: one per
  /// ticket, on this server (EndpointsOf).
  std::function<std::vector<arrow::flight::FlightEndpoint>(query::ReadPlan)> endpoints_of;
  query::QueryPipeline* query = nullptr;
  Logger* logger = nullptr;
  SessionRegistry* registry = nullptr;  ///< statements, transactions, running DoGets
  int64_t batch_rows = 122880;
  /// How long a call waits for a connection another call of the same transaction or
  /// session is using (a result still being read) before it is refused with
  /// FAILED_PRECONDITION (flight.sql_busy_timeout_ms).
  std::chrono::milliseconds busy_timeout{5000};
};

/// \brief Flight SQL (design section 5) as one more thin adapter over the query and
/// ingest pipelines and DuckDB's catalog. It does not serve by itself: the Flight service
/// admits each call (limits, watchdog, CallContext; see CurrentCall) and hands Flight SQL
/// commands, tickets and actions to the FlightSqlServerBase handlers of this object,
/// which decode the protobuf messages and call the overrides below.
class FlightSqlService : public arrow::flight::sql::FlightSqlServerBase {
 public:
  explicit FlightSqlService(FlightSqlDeps deps);

  // Statements (flight_sql_statements.cc).
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoStatement(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::StatementQuery& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::SchemaResult>> GetSchemaStatement(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::StatementQuery& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetStatement(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::StatementQueryTicket& command) override;
  arrow::Result<int64_t> DoPutCommandStatementUpdate(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::StatementUpdate& command) override;

  // Prepared statements (flight_sql_prepared.cc).
  arrow::Result<arrow::flight::sql::ActionCreatePreparedStatementResult>
  CreatePreparedStatement(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::ActionCreatePreparedStatementRequest& request) override;
  arrow::Status ClosePreparedStatement(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::ActionClosePreparedStatementRequest& request) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoPreparedStatement(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::PreparedStatementQuery& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::SchemaResult>> GetSchemaPreparedStatement(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::PreparedStatementQuery& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetPreparedStatement(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::PreparedStatementQuery& command) override;
  arrow::Status DoPutPreparedStatementQuery(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::PreparedStatementQuery& command,
      arrow::flight::FlightMessageReader* reader,
      arrow::flight::FlightMetadataWriter* writer) override;
  arrow::Result<int64_t> DoPutPreparedStatementUpdate(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::PreparedStatementUpdate& command,
      arrow::flight::FlightMessageReader* reader) override;

  // Transactions and sessions (flight_sql_transactions.cc).
  arrow::Result<arrow::flight::sql::ActionBeginTransactionResult> BeginTransaction(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::ActionBeginTransactionRequest& request) override;
  arrow::Status EndTransaction(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::ActionEndTransactionRequest& request) override;
  arrow::Result<arrow::flight::CancelFlightInfoResult> CancelFlightInfo(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::CancelFlightInfoRequest& request) override;
  arrow::Result<arrow::flight::CloseSessionResult> CloseSession(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::CloseSessionRequest& request) override;

  // Bulk ingest (flight_sql_ingest.cc).
  arrow::Result<int64_t> DoPutCommandStatementIngest(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::StatementIngest& command,
      arrow::flight::FlightMessageReader* reader) override;

  // Catalog metadata (flight_sql_metadata.cc).
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoSqlInfo(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetSqlInfo& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoCatalogs(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetCatalogs(
      const arrow::flight::ServerCallContext& context) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoSchemas(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetDbSchemas& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetDbSchemas(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetDbSchemas& command) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoTables(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetTables& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetTables(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetTables& command) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoTableTypes(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetTableTypes(
      const arrow::flight::ServerCallContext& context) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoPrimaryKeys(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetPrimaryKeys& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetPrimaryKeys(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetPrimaryKeys& command) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoExportedKeys(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetExportedKeys& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetExportedKeys(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetExportedKeys& command) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoImportedKeys(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetImportedKeys& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetImportedKeys(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetImportedKeys& command) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoCrossReference(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetCrossReference& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetCrossReference(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetCrossReference& command) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> GetFlightInfoXdbcTypeInfo(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetXdbcTypeInfo& command,
      const arrow::flight::FlightDescriptor& descriptor) override;
  arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> DoGetXdbcTypeInfo(
      const arrow::flight::ServerCallContext& context,
      const arrow::flight::sql::GetXdbcTypeInfo& command) override;

  /// \brief Who calls: the client's session id ("" when it sends no session cookie and
  /// `create` is false; with `create`, a cookie-less call gets a new session whose cookie
  /// goes back in the response headers) and the authenticated user (CurrentCall's
  /// principal). PermissionDenied when the cookie names another user's session.
  arrow::Result<Caller> CallerOf(const arrow::flight::ServerCallContext& context, bool create);

 private:
  /// The connection an ingest runs on: its transaction's, the session's pinned one (a
  /// temporary table pins one), or null for a connection of the pipeline's own.
  arrow::Result<std::shared_ptr<TransactionEntry>> IngestConnection(
      const Caller& caller, const arrow::flight::sql::StatementIngest& command);
  /// The connection statements of `transaction_id` run on; without one, the session's
  /// pinned connection, else a fresh one. `transaction` receives the entry it belongs to
  /// (null for a fresh one).
  arrow::Result<std::shared_ptr<query::SessionConnection>> ConnectionFor(
      const Caller& caller, const std::string& transaction_id,
      std::shared_ptr<TransactionEntry>* transaction);
  /// \brief Exclusive use of `connection` for `use` (named to a call that has to wait):
  /// waits while another call of the transaction or session uses it, up to the busy
  /// timeout or the call's own end, then InUse (FAILED_PRECONDITION).
  arrow::Result<query::SessionLease> Lease(
      const std::shared_ptr<query::SessionConnection>& connection, std::string use);
  /// Lease() of a connection found for transaction `transaction_id` (entry `txn`),
  /// checked once leased (SessionRegistry::CheckLeased): the transaction may have been
  /// committed, rolled back or swept while this call waited, and the call must not then
  /// run on its own (and commit) instead; an end refused earlier is settled first.
  arrow::Result<query::SessionLease> LeaseIn(
      const std::shared_ptr<query::SessionConnection>& connection, std::string use,
      const std::string& transaction_id, const std::shared_ptr<TransactionEntry>& txn);
  /// How long this call waits for a connection another call of its session uses.
  SessionWait Wait() const;
  /// LeaseIn() for a prepared statement: its connection, in its transaction if any.
  arrow::Result<query::SessionLease> LeaseFor(const StatementEntry& entry, std::string use);
  /// A lease of the connection catalog calls read on: the session's pinned one (its
  /// temporary tables show), else a fresh one.
  arrow::Result<query::SessionLease> CatalogLease(
      const arrow::flight::ServerCallContext& context);
  /// \brief The FlightInfo of `sql` when it reads a whole table that is read by several
  /// endpoints (query::QueryPipeline::PlanWholeTableRead: plain Flight tickets, read by
  /// DoGet with the same rights), which ADBC fetches in parallel; null otherwise. Only for
  /// a statement on a connection of its own (no transaction, no pinned session whose
  /// temporary tables may shadow the name) and without parameters.
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> WholeTableInfo(
      const std::string& sql, const arrow::Schema& schema,
      const arrow::flight::FlightDescriptor& descriptor);
  /// Runs a statement that returns no rows (DDL/DML down the query path) now, under
  /// `lease`, once per bound parameter row, and returns a FlightInfo without endpoints:
  /// nothing to fetch, nothing that could run it again at DoGet.
  arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> RunNow(
      const std::shared_ptr<StatementEntry>& entry, query::SessionLease& lease,
      const arrow::flight::FlightDescriptor& descriptor);
  void RegisterSqlInfos();  // sql_info.cc

  FlightSqlDeps deps_;
};

/// arrowport::CallGone of the current call: asked before a commit (a client that would
/// not hear of it must not have it committed).
bool CallGone();
/// What holds a connection, for the next caller's wait or refusal: `what` and the start
/// of `sql` ("a result of 'SELECT ...' being read").
std::string UseOf(const char* what, const std::string& sql);

/// One endpoint per ticket, in order (plain Flight and Flight SQL FlightInfos alike).
std::vector<arrow::flight::FlightEndpoint> EndpointsOf(std::vector<std::string> tickets);


/// A FlightInfo with one endpoint carrying `ticket` (ordered, row count unknown).
arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> InfoWithTicket(
    const arrow::Schema& schema, const arrow::flight::FlightDescriptor& descriptor,
    std::string ticket);

}  // namespace arrowport::flight::sql
