#pragma once

// Internal to the Flight adapter: our own actions (design section 5), run by
// FlightService::DoAction after admission.

#include <arrow/flight/server.h>

#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/common/call_context.h"

namespace arrowport::flight {

struct CallRecord;
struct CallScope;
class QueryProgressRegistry;
struct FlightServiceDeps;

/// The actions ListActions offers besides Flight SQL's.
std::vector<arrow::flight::ActionType> OurActions();

/// \brief Runs `action` for the caller of `scope`: health, status, list_streams and
/// query_progress (answered from `progress`) for any role; checkpoint, reload_config,
/// copy_from and copy_to for admins. A copy_from whose body asks for "progress" moves
/// `scope` into its result stream (ProgressResultStream).
arrow::Status RunAction(const FlightServiceDeps& deps, const arrow::flight::Action& action,
                        CallScope& scope, CallRecord* record,
                        std::unique_ptr<arrow::flight::ResultStream>* result,
                        QueryProgressRegistry* progress);

/// \brief The health action's answer (JSON): the database, the DuckDB settings in force,
/// the memory budgets and what they hold (bytes), the checkpointer's failures, and what
/// Flight SQL clients hold open.
arrow::Result<std::string> HealthJson(const FlightServiceDeps& deps);

}  // namespace arrowport::flight
