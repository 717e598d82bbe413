#include "arrowport/http/http_responses.h"

#include "arrowport/common/status_detail.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/http/deadline_socket_stream.h"
#include "arrowport/http/response_meter.h"

namespace arrowport::http {

namespace {
constexpr int64_t kDrainAfterRefusal = 16 << 20;  // body bytes still read after a refusal
}  // namespace

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void SendJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void LimitDrain(int status) {
  // 401 too: a client that has not authenticated gets no unlimited upload either; nor
  // does one whose body is refused unread for its type or coding (415).
  if (status != 413 && status != 401 && status != 415) return;
  if (auto* connection = DeadlineSocketStream::Current()) {
    connection->LimitRemainingReads(kDrainAfterRefusal);
  }
}

void EndUnreadBody(int64_t drain) {
  if (auto* connection = DeadlineSocketStream::Current()) {
    connection->LimitRemainingReads(drain);
    connection->CloseAfterResponse();
  }
}

void SendError(httplib::Response& res, const HttpError& error, const std::string& body) {
  LimitDrain(error.status);
  // Here, not in SendStatus alone: a failed ingest's 503 (answered with its committed
  // batches) said to retry in its body's code but not when.
  if (error.retry_after_s > 0) res.set_header("Retry-After", std::to_string(error.retry_after_s));
  SendJson(res, error.status, body.empty() ? error.ToJson() : body);
  // The request's meter keeps the message for the status page's recent errors.
  if (auto* meter = CallMeterOf(res)) {
    meter->SetOutcome(std::to_string(error.status), error.message);
  }
}

void SendStatus(httplib::Response& res, const arrow::Status& status) {
  const HttpError error = ToHttpError(status);
  if (HasErrorKind(status, ErrorKind::kUnauthenticated)) {
    res.set_header("WWW-Authenticate", R"(Basic realm="arrowport", Bearer)");
  }
  SendError(res, error);
}

}  // namespace arrowport::http
