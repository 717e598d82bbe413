#pragma once

#include <string>

#include "arrow/result.h"

namespace arrowport::flight {

struct FlightServiceDeps;

/// \brief The health action's answer (JSON): the database, the DuckDB settings in force,
/// the memory budgets and what they hold (bytes), the checkpointer's failures, and what
/// Flight SQL clients hold open.
arrow::Result<std::string> HealthJson(const FlightServiceDeps& deps);

}  // namespace arrowport::flight
