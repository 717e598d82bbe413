#pragma once

#include <string>

#include "arrow/status.h"

namespace arrowport::flight {

/// \brief The one translation from our Status to what a Flight client sees: typed
/// details become Flight status codes (retryable conflict, server busy and shutting
/// down -> UNAVAILABLE, timed out -> DEADLINE_EXCEEDED, rate limited -> RESOURCE_EXHAUSTED
/// (see status_code_interceptor.h), too large -> INVALID_ARGUMENT); everything else keeps Arrow's own
/// mapping (Invalid -> INVALID_ARGUMENT, KeyError -> NOT_FOUND, ...).
/// The message is cut to what every client's header limit takes (ClientMessage).
arrow::Status ToFlightStatus(const arrow::Status& status);

/// `message` as a Flight client gets it: at most 1 KiB once gRPC has percent-encoded it
/// (bytes outside printable ASCII count 3), cut at a character's start, with a note of
/// how much was left out.
std::string ClientMessage(const std::string& message);

/// The name of the gRPC status code a client receives for `flight_status` (a status
/// ToFlightStatus made): "NOT_FOUND", "UNAVAILABLE", "RESOURCE_EXHAUSTED", ...; "OK" for OK.
const char* GrpcCodeName(const arrow::Status& flight_status);

}  // namespace arrowport::flight
