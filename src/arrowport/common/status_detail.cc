#include "arrowport/common/status_detail.h"

#include <cerrno>
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
    case ErrorKind::kUnauthenticated: return "unauthenticated";
    case ErrorKind::kPermissionDenied: return "permission denied";
    case ErrorKind::kRateLimited: return "rate limited";
    case ErrorKind::kInUse: return "in use";
    case ErrorKind::kResourceExhausted: return "resource exhausted";
    case ErrorKind::kStoreUnavailable: return "store unavailable";
    case ErrorKind::kOutcomeUnknown: return "outcome unknown";
    case ErrorKind::kWriteLimit: return "write limit";
    case ErrorKind::kTableRefused: return "table refused";
    case ErrorKind::kDiskFull: return "disk full";
    case ErrorKind::kRequestTimedOut: return "request timed out";
    case ErrorKind::kClientGone: return "client gone";
    case ErrorKind::kCatalogLocked: return "catalog locked";
  }
  return "error";
}

const ErrorKindDetail* GetErrorKind(const arrow::Status& status) {
  const auto& detail = status.detail();
  if (detail == nullptr || std::strcmp(detail->type_id(), ErrorKindDetail::kTypeId) != 0) {
    return nullptr;
  }
  return static_cast<const ErrorKindDetail*>(detail.get());
}

bool HasErrorKind(const arrow::Status& status, ErrorKind kind) {
  const auto* detail = GetErrorKind(status);
  return detail != nullptr && detail->kind() == kind;
}

arrow::Status WithErrorKind(const arrow::Status& status, ErrorKind kind,
                            int64_t retry_after_s) {
  return status.WithDetail(std::make_shared<ErrorKindDetail>(kind, retry_after_s));
}

arrow::Status FileError(const std::string& what, const std::string& path) {
  const int error = errno;
  const std::string message = what + " '" + path + "': " + std::strerror(error);
  if (error == ENOSPC || error == EDQUOT) return DiskFull("disk full: ", message);
  return arrow::Status::IOError(message);
}

}  // namespace arrowport
