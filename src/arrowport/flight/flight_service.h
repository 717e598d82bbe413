#pragma once

#include <memory>

#include "arrowport/flight/flight_service_deps.h"

namespace arrow::flight {
class FlightServerBase;
}

namespace arrowport::flight {

/// \brief The Arrow Flight surface (design section 5) over the shared ingest and query
/// pipelines. The caller Init()s it with a Location and serves. Flight SQL shares the
/// port: a CMD descriptor or ticket that is a packed protobuf Any of a Flight SQL message,
/// and the Flight SQL action types, go to the Flight SQL adapter (flight/sql/), after the
/// same admission, watchdog and CallContext as every other call; everything else is ours.
std::unique_ptr<arrow::flight::FlightServerBase> MakeFlightService(FlightServiceDeps deps);

}  // namespace arrowport::flight
