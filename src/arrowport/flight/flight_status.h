#pragma once

#include "arrow/status.h"

namespace arrowport::flight {

/// \brief The one translation from our Status to what a Flight client sees: typed
/// details become Flight status codes (retryable conflict, server busy and shutting
/// down -> UNAVAILABLE, timed out -> DEADLINE_EXCEEDED, rate limited -> RESOURCE_EXHAUSTED
/// (see status_code_interceptor.h), too large -> INVALID_ARGUMENT); everything else keeps Arrow's own
/// mapping (Invalid -> INVALID_ARGUMENT, KeyError -> NOT_FOUND, ...).
arrow::Status ToFlightStatus(const arrow::Status& status);

}  // namespace arrowport::flight
