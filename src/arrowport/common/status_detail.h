#pragma once

#include <cstdint>
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
  kUnauthenticated,    ///< no, bad or expired credentials: authenticate (again)
  kPermissionDenied,   ///< authenticated, but the user's role or lists do not allow it
  kRateLimited,        ///< this caller's own limit (rate, concurrent calls): retry after a pause
  kInUse,              ///< a handle (transaction, session, statement) is busy with another call
  kResourceExhausted,  ///< the server-wide memory budget is spent: retry later
  kStoreUnavailable,   ///< a lake's object store failed or is unreachable: retry later
  /// A lake commit may or may not have landed (the store's answer was lost and it could
  /// not be read back): retry with the same request id, which commits at most once.
  kOutcomeUnknown,
  /// One request wrote (or sent back) more than its cap allows relative to what its
  /// client sent (limits.max_write_factor): not retryable as it is.
  kWriteLimit,
  /// A lake table whose log cannot be loaded or fails validation (paths leaving the
  /// table, files missing): refused for reads and writes until its log changes.
  kTableRefused,
  /// The disk under the database, its WAL or DuckDB's temp directory has less free space
  /// than storage.min_free_mb (or DuckDB met a full disk): writes are refused until an
  /// operator frees space; reads go on.
  kDiskFull,
  /// The client stopped sending its request part way (HTTP: no body bytes for
  /// http.read_timeout_s): its fault, not the server's; nothing of it is committed.
  kRequestTimedOut,
  /// The client closed its connection before the response was whole: its choice, not a
  /// failure of the server's (HTTP logs it as nginx does, 499).
  kClientGone,
  /// A lake's catalog is locked by another process (a SQLite catalog in its write
  /// transaction) past the catalog's busy timeout: retry once that process commits.
  kCatalogLocked,
};

class ErrorKindDetail : public arrow::StatusDetail {
 public:
  static constexpr const char* kTypeId = "arrowport::error_kind";
  explicit ErrorKindDetail(ErrorKind kind, int64_t retry_after_s = 0)
      : kind_(kind), retry_after_s_(retry_after_s) {}
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override;
  ErrorKind kind() const { return kind_; }
  /// Seconds the caller should wait before retrying (0: not said).
  int64_t retry_after_s() const { return retry_after_s_; }

 private:
  ErrorKind kind_;
  int64_t retry_after_s_;
};

/// The ErrorKindDetail `status` carries, or null.
const ErrorKindDetail* GetErrorKind(const arrow::Status& status);

/// True when `status` carries an ErrorKindDetail of `kind`.
bool HasErrorKind(const arrow::Status& status, ErrorKind kind);

/// `status` with `kind` attached (the code and message stay as they are).
arrow::Status WithErrorKind(const arrow::Status& status, ErrorKind kind,
                            int64_t retry_after_s = 0);

template <typename... Args>
arrow::Status TableRefused(Args&&... args) {
  return WithErrorKind(arrow::Status::Invalid(std::forward<Args>(args)...),
                       ErrorKind::kTableRefused);
}

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

/// A caller over its own limit (limits.*_per_user): HTTP 429, Flight RESOURCE_EXHAUSTED,
/// both saying to retry after `retry_after_s` seconds.
template <typename... Args>
arrow::Status RateLimited(int64_t retry_after_s, Args&&... args) {
  return WithErrorKind(arrow::Status::IOError(std::forward<Args>(args)...),
                       ErrorKind::kRateLimited, retry_after_s);
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
arrow::Status Unauthenticated(Args&&... args) {
  return WithErrorKind(arrow::Status::Invalid(std::forward<Args>(args)...),
                       ErrorKind::kUnauthenticated);
}

template <typename... Args>
arrow::Status PermissionDenied(Args&&... args) {
  return WithErrorKind(arrow::Status::Invalid(std::forward<Args>(args)...),
                       ErrorKind::kPermissionDenied);
}

/// A handle another call holds (a result still being read on a transaction's connection):
/// Flight FAILED_PRECONDITION, HTTP 409. The message names what holds it.
template <typename... Args>
arrow::Status InUse(Args&&... args) {
  return WithErrorKind(arrow::Status::Invalid(std::forward<Args>(args)...), ErrorKind::kInUse);
}

/// The server-wide memory budget (limits.max_request_memory, limits.max_query_memory) is
/// spent: HTTP 503, Flight RESOURCE_EXHAUSTED, both saying to retry.
template <typename... Args>
arrow::Status ResourceExhausted(Args&&... args) {
  return WithErrorKind(arrow::Status::OutOfMemory(std::forward<Args>(args)...),
                       ErrorKind::kResourceExhausted, /*retry_after_s=*/1);
}

/// A request past what it may write (limits.max_write_factor and its floors): Flight
/// RESOURCE_EXHAUSTED, HTTP 413.
template <typename... Args>
arrow::Status WriteLimit(Args&&... args) {
  return WithErrorKind(arrow::Status::CapacityError(std::forward<Args>(args)...),
                       ErrorKind::kWriteLimit);
}

/// Writes refused for want of disk space (storage.min_free_mb, or ENOSPC met by DuckDB):
/// Flight RESOURCE_EXHAUSTED, HTTP 507. Retrying helps only once space is freed.
template <typename... Args>
arrow::Status DiskFull(Args&&... args) {
  return WithErrorKind(arrow::Status::IOError(std::forward<Args>(args)...),
                       ErrorKind::kDiskFull);
}

/// The errno of the file call just made on `path`, as a status: DiskFull for ENOSPC and
/// EDQUOT, else IOError ("<what> '<path>': <strerror>").
arrow::Status FileError(const std::string& what, const std::string& path);

/// A write whose commit may or may not have landed: Flight UNAVAILABLE, HTTP 503, both
/// saying to retry with the same request id.
template <typename... Args>
arrow::Status OutcomeUnknown(Args&&... args) {
  return WithErrorKind(arrow::Status::IOError(std::forward<Args>(args)...),
                       ErrorKind::kOutcomeUnknown);
}

/// A request whose client stalled while sending it: HTTP 408.
template <typename... Args>
arrow::Status RequestTimedOut(Args&&... args) {
  return WithErrorKind(arrow::Status::IOError(std::forward<Args>(args)...),
                       ErrorKind::kRequestTimedOut);
}

/// The client went away before its answer was whole: a Cancelled status (Flight's
/// CANCELLED), logged by HTTP as 499, not as a server failure.
template <typename... Args>
arrow::Status ClientGone(Args&&... args) {
  return WithErrorKind(arrow::Status::Cancelled(std::forward<Args>(args)...),
                       ErrorKind::kClientGone);
}

template <typename... Args>
arrow::Status TooLarge(Args&&... args) {
  return WithErrorKind(arrow::Status::CapacityError(std::forward<Args>(args)...),
                       ErrorKind::kTooLarge);
}

}  // namespace arrowport
