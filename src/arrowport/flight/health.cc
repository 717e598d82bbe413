#include "arrowport/flight/health.h"

#include <nlohmann/json.hpp>

#include "arrowport/common/memory_budget.h"
#include "arrowport/flight/flight_service.h"
#include "arrowport/flight/sql/session_registry.h"
#include "arrowport/storage/database.h"

namespace arrowport::flight {

using json = nlohmann::json;

arrow::Result<std::string> HealthJson(const FlightServiceDeps& deps) {
  ARROW_ASSIGN_OR_RAISE(auto settings, deps.database->Settings());
  json memory = {{"duckdb_held", deps.database->allocated_bytes()},
                 {"duckdb_budget", deps.database->allocation_budget_bytes()}};
  if (deps.request_memory) {
    memory["requests_held"] = deps.request_memory->used();
    memory["requests_peak"] = deps.request_memory->peak();
    memory["requests_budget"] = deps.request_memory->capacity();
  }
  const auto checkpointer = deps.database->checkpointer_state();
  json flight_sql = json::object();
  if (deps.sql_sessions) {
    flight_sql = {{"open_statements", deps.sql_sessions->open_statements()},
                  {"open_transactions", deps.sql_sessions->open_transactions()}};
  }
  return json{{"status", "ok"},
              {"database", deps.database->path()},
              {"version", ARROWPORT_VERSION},
              {"duckdb",
               {{"threads", settings.threads},
                {"memory_limit", settings.memory_limit},
                {"external_access", settings.external_access}}},
              {"memory", memory},
              {"checkpointer",
               {{"failures_in_a_row", checkpointer.failures_in_a_row},
                {"last_error", checkpointer.last_error}}},
              {"flight_sql", flight_sql}}
      .dump();
}

}  // namespace arrowport::flight
