#include "arrowport/http/request_body.h"

#include "arrowport/common/status_detail.h"

namespace arrowport::http {

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
  if (!complete) {
    return arrow::Status::Invalid("the request body could not be read completely (client "
                                  "disconnected, timed out or sent a malformed body)");
  }
  return body;
}

}  // namespace arrowport::http
