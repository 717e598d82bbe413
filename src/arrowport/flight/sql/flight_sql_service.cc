#include "arrowport/flight/sql/flight_sql_service.h"

#include <arrow/flight/sql/server_session_middleware.h>

#include "arrowport/flight/sql/session_store.h"
#include "arrowport/storage/connection.h"
#include "arrowport/storage/database.h"

namespace arrowport::flight::sql {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

FlightSqlService::FlightSqlService(FlightSqlDeps deps) : deps_(std::move(deps)) {
  RegisterSqlInfos();
}

std::string FlightSqlService::SessionOf(const fl::ServerCallContext& context, bool create) {
  auto* middleware = dynamic_cast<fsql::ServerSessionMiddleware*>(
      context.GetMiddleware(fsql::ServerSessionMiddleware::kMiddlewareName));
  if (middleware == nullptr) return "";
  if (!create && !middleware->HasSession()) return "";
  auto session = middleware->GetSession();
  if (!session.ok() || *session == nullptr) return "";
  std::string id = deps_.registry->SessionId(session->get());
  deps_.registry->Touch(id);
  return id;
}

arrow::Result<std::shared_ptr<storage::Connection>> FlightSqlService::ConnectionFor(
    const fl::ServerCallContext& context, const std::string& transaction_id,
    std::shared_ptr<TransactionEntry>* transaction) {
  if (transaction_id.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto conn, deps_.database->Connect());
    return std::shared_ptr<storage::Connection>(std::move(conn));
  }
  ARROW_ASSIGN_OR_RAISE(auto entry,
                        deps_.registry->FindTransaction(transaction_id, SessionOf(context, false)));
  if (transaction) *transaction = entry;
  return entry->connection;
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> InfoWithTicket(
    const arrow::Schema& schema, const fl::FlightDescriptor& descriptor, std::string ticket) {
  fl::FlightEndpoint endpoint;
  endpoint.ticket.ticket = std::move(ticket);
  ARROW_ASSIGN_OR_RAISE(auto info, fl::FlightInfo::Make(schema, descriptor, {endpoint}, -1, -1,
                                                        /*ordered=*/true));
  return std::make_unique<fl::FlightInfo>(std::move(info));
}

}  // namespace arrowport::flight::sql
