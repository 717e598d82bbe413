#include "arrowport/http/request_body.h"

#include <chrono>

#include "arrowport/common/status_detail.h"
#include "arrowport/http/deadline_socket_stream.h"

namespace arrowport::http {

arrow::Status IncompleteBody() {
  const auto* connection = DeadlineSocketStream::Current();
  if (connection != nullptr && connection->body_timed_out()) {
    const auto waited =
        std::chrono::duration_cast<std::chrono::seconds>(connection->read_timeout());
    return RequestTimedOut("the request body stopped arriving: no bytes for ", waited.count(),
                           " s (http.read_timeout_s, or limits.idle_timeout_s if lower)");
  }
  return arrow::Status::Invalid("the request body could not be read completely (client "
                                "disconnected or sent a malformed body)");
}

arrow::Result<std::string> ReadBodyLimited(const httplib::ContentReader& content, int64_t limit,
                                           const std::string& limit_name,
                                           MemoryBudget::Reservation* charge) {
  std::string body;
  bool too_large = false;
  arrow::Status budget;
  const bool complete = content([&](const char* data, size_t length) {
    if (static_cast<int64_t>(length) > limit - static_cast<int64_t>(body.size())) {
      too_large = true;
      return false;
    }
    if (charge != nullptr) {
      budget = charge->Grow(static_cast<int64_t>(length), "a request body");
      if (!budget.ok()) return false;
    }
    body.append(data, length);
    return true;
  });
  ARROW_RETURN_NOT_OK(budget);
  if (too_large) {
    return TooLarge("request body exceeds ", limit, " bytes once decompressed (", limit_name,
                    ")");
  }
  if (!complete) return IncompleteBody();
  return body;
}

}  // namespace arrowport::http
