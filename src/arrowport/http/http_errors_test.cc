#include "arrowport/http/http_errors.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "arrowport/common/status_detail.h"

namespace arrowport::http {
namespace http_errors_test {

void ExpectMapsTo(const arrow::Status& status, int code, const std::string& name) {
  const HttpError error = ToHttpError(status);
  EXPECT_EQ(error.status, code) << status.ToString();
  EXPECT_EQ(error.code, name) << status.ToString();
  EXPECT_EQ(error.message, status.message());
}

TEST(ToHttpErrorTest, EachErrorKindHasItsOwnStatus) {
  ExpectMapsTo(SchemaMismatch("column 'temp' is float64"), 422, "schema_mismatch");
  ExpectMapsTo(RetryableConflict("write-write conflict"), 409, "conflict");
  ExpectMapsTo(ServerBusy("too many calls"), 503, "busy");
  ExpectMapsTo(Unauthenticated("no credentials"), 401, "unauthenticated");
  ExpectMapsTo(PermissionDenied("reader"), 403, "permission_denied");
  ExpectMapsTo(ShuttingDown("server stopping"), 503, "shutting_down");
  ExpectMapsTo(TimedOut("query ran past 30 s"), 504, "timeout");
  ExpectMapsTo(TooLarge("body over 1 GiB"), 413, "payload_too_large");
  ExpectMapsTo(PermissionDenied("ATTACH is refused"), 403, "permission_denied");
  ExpectMapsTo(RateLimited(3, "slow down"), 429, "rate_limited");
  ExpectMapsTo(DiskFull("disk full: 3 MiB free under /x"), 507, "disk_full");
  // The client's fault (an IOError underneath, which alone is a 500).
  ExpectMapsTo(RequestTimedOut("no body bytes for 30 s"), 408, "request_timeout");
  // Never sent: what the log says of a client that left (a Cancelled underneath, 400).
  ExpectMapsTo(ClientGone("the client left"), 499, "client_closed_request");
}

TEST(ToHttpErrorTest, BusyAndRateLimitedSayWhenToRetry) {
  EXPECT_EQ(ToHttpError(RateLimited(7, "slow down")).retry_after_s, 7);
  EXPECT_EQ(ToHttpError(RateLimited(0, "slow down")).retry_after_s, 1);
  EXPECT_EQ(ToHttpError(ServerBusy("busy")).retry_after_s, 1);
  EXPECT_EQ(ToHttpError(arrow::Status::Invalid("bad")).retry_after_s, 0);
}

TEST(ToHttpErrorTest, TheKindWinsOverTheStatusCode) {
  // A kind attached to any code maps by kind: TimedOut is a Cancelled underneath, which
  // alone would be 400, and TooLarge a CapacityError, alone 400.
  ExpectMapsTo(WithErrorKind(arrow::Status::KeyError("x"), ErrorKind::kServerBusy), 503,
               "busy");
  ExpectMapsTo(WithErrorKind(arrow::Status::IOError("x"), ErrorKind::kTimedOut), 504,
               "timeout");
}

TEST(ToHttpErrorTest, EachStatusCodeWithoutAKind) {
  ExpectMapsTo(arrow::Status::Invalid("bad"), 400, "invalid_argument");
  ExpectMapsTo(arrow::Status::TypeError("bad"), 400, "invalid_argument");
  ExpectMapsTo(arrow::Status::IndexError("bad"), 400, "invalid_argument");
  ExpectMapsTo(arrow::Status::SerializationError("bad"), 400, "invalid_argument");
  ExpectMapsTo(arrow::Status::CapacityError("bad"), 400, "invalid_argument");
  ExpectMapsTo(arrow::Status::Cancelled("stop"), 400, "cancelled");
  ExpectMapsTo(arrow::Status::KeyError("no table"), 404, "not_found");
  ExpectMapsTo(arrow::Status::AlreadyExists("t"), 409, "already_exists");
  ExpectMapsTo(arrow::Status::OutOfMemory("oom"), 503, "out_of_memory");
  ExpectMapsTo(arrow::Status::NotImplemented("later"), 501, "not_implemented");
  ExpectMapsTo(arrow::Status::IOError("disk"), 500, "internal");
  ExpectMapsTo(arrow::Status::UnknownError("?"), 500, "internal");
}

TEST(HttpErrorTest, ToJsonIsValidJsonWithCodeAndMessage) {
  HttpError error{400, "invalid_argument", "column \"a\\b\"\n is \xff bad"};
  auto doc = nlohmann::json::parse(error.ToJson());
  EXPECT_EQ(doc["error"]["code"], "invalid_argument");
  EXPECT_EQ(doc["error"]["message"], "column \"a\\b\"\n is \xef\xbf\xbd bad");
  EXPECT_EQ(HttpError{}.ToJson(), R"({"error":{"code":"internal","message":""}})");
}

}  // namespace http_errors_test
}  // namespace arrowport::http
