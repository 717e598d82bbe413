#pragma once

#include <cstdint>
#include <string>

#include "arrow/status.h"

namespace arrowport::http {

/// An HTTP error response: status code, machine code and message.
struct HttpError {
  int status = 500;
  std::string code = "internal";
  std::string message;
  int64_t retry_after_s = 0;  ///< > 0: sent as Retry-After (busy 503, rate-limited 429)

  /// `{"error": {"code": "...", "message": "..."}}`
  std::string ToJson() const;
};

/// \brief The one translation from Status to HTTP: Invalid -> 400 (422 for schema
/// mismatches), KeyError -> 404, AlreadyExists -> 409, retryable conflicts -> 409, server busy -> 503,
/// rate limited -> 429, too large -> 413, a request body stalled past its timeout -> 408,
/// OutOfMemory -> 503, Cancelled -> 400, NotImplemented -> 501, else 500.
HttpError ToHttpError(const arrow::Status& status);

}  // namespace arrowport::http
