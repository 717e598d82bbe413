#pragma once

#include <memory>
#include <string>
#include <utility>

#include "arrow/status.h"

namespace arrowport {

/// What a caller must act on, carried as a typed arrow::StatusDetail (never as message
/// text someone string-matches later). Each protocol maps it once: http_errors.cc for
/// HTTP, flight_status.cc for Flight.
enum class ErrorKind {
  kRetryableConflict,  ///< a write conflict: retrying the same request may succeed
  kSchemaMismatch,     ///< incoming data does not fit the target table
  kServerBusy,         ///< admission control refused the call: retry later
  kTooLarge,           ///< a size limit (body, record batch) was exceeded
  kTimedOut,           ///< the call ran past its deadline (limits.query_timeout_s, client's)
  kShuttingDown,       ///< the server stopped while the call was open: retry elsewhere/later
  kPermissionDenied,   ///< the caller's role or the server's sandbox forbids this
};

class ErrorKindDetail : public arrow::StatusDetail {
 public:
  static constexpr const char* kTypeId = "arrowport::error_kind";
  explicit ErrorKindDetail(ErrorKind kind) : kind_(kind) {}
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override;
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

/// True when `status` carries an ErrorKindDetail of `kind`.
bool HasErrorKind(const arrow::Status& status, ErrorKind kind);

/// `status` with `kind` attached (the code and message stay as they are).
arrow::Status WithErrorKind(const arrow::Status& status, ErrorKind kind);

template <typename... Args>
arrow::Status RetryableConflict(Args&&... args) {
  return WithErrorKind(arrow::Status::IOError(std::forward<Args>(args)...),
                       ErrorKind::kRetryableConflict);
}

template <typename... Args>
arrow::Status SchemaMismatch(Args&&... args) {
  return WithErrorKind(arrow::Status::Invalid(std::forward<Args>(args)...),
                       ErrorKind::kSchemaMismatch);
}

template <typename... Args>
arrow::Status ServerBusy(Args&&... args) {
  return WithErrorKind(arrow::Status::IOError(std::forward<Args>(args)...),
                       ErrorKind::kServerBusy);
}

template <typename... Args>
arrow::Status TimedOut(Args&&... args) {
  return WithErrorKind(arrow::Status::Cancelled(std::forward<Args>(args)...),
                       ErrorKind::kTimedOut);
}

template <typename... Args>
arrow::Status ShuttingDown(Args&&... args) {
  return WithErrorKind(arrow::Status::Cancelled(std::forward<Args>(args)...),
                       ErrorKind::kShuttingDown);
}

template <typename... Args>
arrow::Status PermissionDenied(Args&&... args) {
  return WithErrorKind(arrow::Status::Invalid(std::forward<Args>(args)...),
                       ErrorKind::kPermissionDenied);
}

template <typename... Args>
arrow::Status TooLarge(Args&&... args) {
  return WithErrorKind(arrow::Status::CapacityError(std::forward<Args>(args)...),
                       ErrorKind::kTooLarge);
}

}  // namespace arrowport
