#include "arrowport/flight/flight_status.h"

#include <arrow/flight/types.h>

#include "arrowport/common/status_detail.h"

namespace arrowport::flight {

namespace fl = arrow::flight;

arrow::Status ToFlightStatus(const arrow::Status& status) {
  if (status.ok()) return status;
  if (HasErrorKind(status, ErrorKind::kRetryableConflict) ||
      HasErrorKind(status, ErrorKind::kServerBusy) ||
      HasErrorKind(status, ErrorKind::kShuttingDown)) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable, status.message());
  }
  if (HasErrorKind(status, ErrorKind::kPermissionDenied)) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unauthorized, status.message());
  }
  if (HasErrorKind(status, ErrorKind::kTimedOut)) {
    return fl::MakeFlightError(fl::FlightStatusCode::TimedOut, status.message());
  }
  if (HasErrorKind(status, ErrorKind::kTooLarge) || status.IsCapacityError()) {
    return arrow::Status::Invalid(status.message());
  }
  return status;
}

}  // namespace arrowport::flight
