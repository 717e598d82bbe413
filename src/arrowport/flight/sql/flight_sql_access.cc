#include "arrowport/flight/sql/flight_sql_access.h"

#include <string>

#include "arrowport/auth/access_policy.h"

namespace arrowport::flight::sql {

using auth::AccessPolicy;

arrow::Status CheckCommandAccess(const Principal* principal,
                                 const FlightSqlCommand& command, bool put) {
  const std::string_view name = command.name;
  if (name == "CommandStatementUpdate" || name == "CommandPreparedStatementUpdate" ||
      (put && name == "CommandStatementSubstraitPlan")) {
    return AccessPolicy::RequireRole(
        principal, Role::kAdmin, "run SQL updates (Flight SQL " + std::string(name) + ")");
  }
  if (name == "CommandStatementIngest") {
    return AccessPolicy::RequireRole(principal, Role::kWriter, "ingest (Flight SQL)");
  }
  // Queries (the SQL sandbox judges them) and catalog metadata: every role.
  return arrow::Status::OK();
}

}  // namespace arrowport::flight::sql
