#include "arrowport/http/http_errors.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "arrowport/common/status_detail.h"

namespace arrowport::http {

std::string HttpError::ToJson() const {
  const nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
  // Messages quote client data, which may be any bytes: invalid UTF-8 becomes U+FFFD.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

struct Mapping {
  int status;
  const char* code;
};

// Typed kinds first: they say what the client must do, whatever the status code.
Mapping ForKind(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kSchemaMismatch: return {422, "schema_mismatch"};
    case ErrorKind::kRetryableConflict: return {409, "conflict"};
    case ErrorKind::kServerBusy: return {503, "busy"};
    case ErrorKind::kShuttingDown: return {503, "shutting_down"};
    case ErrorKind::kTimedOut: return {504, "timeout"};
    case ErrorKind::kTooLarge: return {413, "payload_too_large"};
    case ErrorKind::kUnauthenticated: return {401, "unauthenticated"};
    case ErrorKind::kPermissionDenied: return {403, "permission_denied"};
    case ErrorKind::kRateLimited: return {429, "rate_limited"};
    case ErrorKind::kInUse: return {409, "in_use"};
    case ErrorKind::kResourceExhausted: return {503, "resource_exhausted"};
    case ErrorKind::kStoreUnavailable: return {503, "store_unavailable"};
    case ErrorKind::kOutcomeUnknown: return {503, "outcome_unknown"};
    case ErrorKind::kWriteLimit: return {413, "write_limit"};
    case ErrorKind::kTableRefused: return {409, "table_refused"};
    // 507 Insufficient Storage (RFC 4918): the server cannot store what was sent.
    case ErrorKind::kDiskFull: return {507, "disk_full"};
    // 408: the client was too slow sending its request, a client error (not 504, which
    // says the server ran past a deadline).
    case ErrorKind::kRequestTimedOut: return {408, "request_timeout"};
    // Never sent (nobody is left to read it): what the log line says, as nginx logs it.
    case ErrorKind::kClientGone: return {499, "client_closed_request"};
    case ErrorKind::kCatalogLocked: return {503, "catalog_locked"};
  }
  return {500, "internal"};
}

Mapping ForCode(arrow::StatusCode code) {
  switch (code) {
    case arrow::StatusCode::Invalid:
    case arrow::StatusCode::TypeError:
    case arrow::StatusCode::IndexError:
    case arrow::StatusCode::SerializationError:
    case arrow::StatusCode::CapacityError: return {400, "invalid_argument"};
    case arrow::StatusCode::Cancelled: return {400, "cancelled"};
    case arrow::StatusCode::KeyError: return {404, "not_found"};
    case arrow::StatusCode::AlreadyExists: return {409, "already_exists"};
    case arrow::StatusCode::OutOfMemory: return {503, "out_of_memory"};
    case arrow::StatusCode::NotImplemented: return {501, "not_implemented"};
    default: return {500, "internal"};
  }
}

}  // namespace

HttpError ToHttpError(const arrow::Status& status) {
  const auto* kind = GetErrorKind(status);
  const Mapping mapping = kind != nullptr ? ForKind(kind->kind()) : ForCode(status.code());
  HttpError error{mapping.status, mapping.code, status.message()};
  if (kind != nullptr && (kind->kind() == ErrorKind::kServerBusy ||
                          kind->kind() == ErrorKind::kResourceExhausted ||
                          kind->kind() == ErrorKind::kStoreUnavailable ||
                          kind->kind() == ErrorKind::kCatalogLocked ||
                          kind->kind() == ErrorKind::kOutcomeUnknown)) {
    error.retry_after_s = 1;
  }
  if (kind != nullptr && kind->kind() == ErrorKind::kRateLimited) {
    error.retry_after_s = std::max<int64_t>(1, kind->retry_after_s());
  }
  return error;
}

}  // namespace arrowport::http
