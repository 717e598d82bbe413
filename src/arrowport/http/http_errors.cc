#include "arrowport/http/http_errors.h"

#include "arrowport/common/json_util.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::http {

std::string HttpError::ToJson() const {
  return "{\"error\": {\"code\": \"" + JsonEscape(code) + "\", \"message\": \"" +
         JsonEscape(message) + "\"}}";
}

HttpError ToHttpError(const arrow::Status& status) {
  HttpError error;
  error.message = status.message();
  if (HasErrorKind(status, ErrorKind::kSchemaMismatch)) {
    error.status = 422;
    error.code = "schema_mismatch";
    return error;
  }
  if (HasErrorKind(status, ErrorKind::kRetryableConflict)) {
    error.status = 409;
    error.code = "conflict";
    return error;
  }
  if (HasErrorKind(status, ErrorKind::kServerBusy)) {
    error.status = 503;
    error.code = "busy";
    return error;
  }
  if (HasErrorKind(status, ErrorKind::kShuttingDown)) {
    error.status = 503;
    error.code = "shutting_down";
    return error;
  }
  if (HasErrorKind(status, ErrorKind::kTimedOut)) {
    error.status = 504;
    error.code = "timeout";
    return error;
  }
  if (HasErrorKind(status, ErrorKind::kTooLarge)) {
    error.status = 413;
    error.code = "payload_too_large";
    return error;
  }
  switch (status.code()) {
    case arrow::StatusCode::Invalid:
    case arrow::StatusCode::TypeError:
    case arrow::StatusCode::IndexError:
    case arrow::StatusCode::SerializationError:
    case arrow::StatusCode::CapacityError:
      error.status = 400;
      error.code = "invalid_argument";
      break;
    case arrow::StatusCode::Cancelled:
      error.status = 400;
      error.code = "cancelled";
      break;
    case arrow::StatusCode::KeyError:
      error.status = 404;
      error.code = "not_found";
      break;
    case arrow::StatusCode::AlreadyExists:
      error.status = 409;
      error.code = "already_exists";
      break;
    case arrow::StatusCode::OutOfMemory:
      error.status = 503;
      error.code = "out_of_memory";
      break;
    case arrow::StatusCode::NotImplemented:
      error.status = 501;
      error.code = "not_implemented";
      break;
    default:
      error.status = 500;
      error.code = "internal";
  }
  return error;
}

}  // namespace arrowport::http
