#include "arrowport/common/status_detail.h"

#include <cstring>

namespace arrowport {

std::string ErrorKindDetail::ToString() const {
  switch (kind_) {
    case ErrorKind::kRetryableConflict: return "retryable conflict";
    case ErrorKind::kSchemaMismatch: return "schema mismatch";
    case ErrorKind::kServerBusy: return "server busy";
    case ErrorKind::kTooLarge: return "too large";
    case ErrorKind::kTimedOut: return "timed out";
    case ErrorKind::kShuttingDown: return "shutting down";
    case ErrorKind::kPermissionDenied: return "permission denied";
  }
  return "error";
}

bool HasErrorKind(const arrow::Status& status, ErrorKind kind) {
  const auto& detail = status.detail();
  return detail != nullptr && std::strcmp(detail->type_id(), ErrorKindDetail::kTypeId) == 0 &&
         static_cast<const ErrorKindDetail&>(*detail).kind() == kind;
}

arrow::Status WithErrorKind(const arrow::Status& status, ErrorKind kind) {
  return status.WithDetail(std::make_shared<ErrorKindDetail>(kind));
}

}  // namespace arrowport
