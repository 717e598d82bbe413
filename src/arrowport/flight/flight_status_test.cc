#include "arrowport/flight/flight_status.h"

#include <arrow/flight/types.h>
#include <gtest/gtest.h>

#include "arrowport/common/status_detail.h"
#include "arrowport/flight/rpc_status.h"

namespace arrowport::flight {
namespace flight_status_test {

namespace fl = arrow::flight;

fl::FlightStatusCode CodeOf(const arrow::Status& status) {
  auto detail = fl::FlightStatusDetail::UnwrapStatus(status);
  return detail ? detail->code() : fl::FlightStatusCode::Internal;
}

TEST(FlightStatusTest, TypedKindsMapToFlightCodesOnce) {
  auto conflict = ToFlightStatus(RetryableConflict("retryable conflict: write-write"));
  EXPECT_EQ(CodeOf(conflict), fl::FlightStatusCode::Unavailable);
  EXPECT_NE(conflict.message().find("write-write"), std::string::npos);
  EXPECT_EQ(CodeOf(ToFlightStatus(ServerBusy("busy"))), fl::FlightStatusCode::Unavailable);
  EXPECT_EQ(CodeOf(ToFlightStatus(ShuttingDown("bye"))), fl::FlightStatusCode::Unavailable);
  EXPECT_EQ(CodeOf(ToFlightStatus(TimedOut("slow"))), fl::FlightStatusCode::TimedOut);
  EXPECT_TRUE(ToFlightStatus(TooLarge("big")).IsInvalid());
  EXPECT_EQ(CodeOf(ToFlightStatus(Unauthenticated("who"))),
            fl::FlightStatusCode::Unauthenticated);
  EXPECT_EQ(CodeOf(ToFlightStatus(PermissionDenied("no"))),
            fl::FlightStatusCode::Unauthorized);
  // Untyped statuses keep Arrow's own mapping.
  EXPECT_TRUE(ToFlightStatus(arrow::Status::KeyError("t")).IsKeyError());
  EXPECT_TRUE(ToFlightStatus(arrow::Status::Invalid("x")).IsInvalid());
  EXPECT_TRUE(ToFlightStatus(arrow::Status::OK()).ok());
}

// A message longer than a client's header limit takes (a DuckDB error quoting a 40,000-
// character name) reached pyarrow as RESOURCE_EXHAUSTED "metadata size exceeds hard
// limit" in place of its own code.
TEST(FlightStatusTest, ALongMessageIsCutToWhatEveryClientTakes) {
  const std::string name(40000, 'x');
  auto st = ToFlightStatus(arrow::Status::KeyError("Table with name ", name, " does not exist"));
  EXPECT_TRUE(st.IsKeyError());
  EXPECT_LE(st.message().size(), 1200u);
  EXPECT_EQ(st.message().rfind("Table with name xxx", 0), 0u);
  EXPECT_NE(st.message().find("bytes more: the whole message is in the server's log"),
            std::string::npos);
  // Typed kinds keep their code, and their google.rpc.Status copy is cut as well.
  auto busy = ToFlightStatus(ResourceExhausted(name));
  auto detail = fl::FlightStatusDetail::UnwrapStatus(busy);
  ASSERT_NE(detail, nullptr);
  EXPECT_LE(busy.message().size(), 1200u);
  EXPECT_LE(detail->extra_info().size(), 1300u);
  EXPECT_STREQ(GrpcCodeName(busy), "RESOURCE_EXHAUSTED");
  // Bytes gRPC percent-encodes count three times, and a cut never splits a character.
  std::string accents;
  for (int i = 0; i < 2000; ++i) accents += "\xc3\xa9";  // e-acute
  const std::string cut = ClientMessage(accents);
  EXPECT_LT(cut.size(), 800u);
  const size_t kept = cut.find(" ... [");
  ASSERT_NE(kept, std::string::npos);
  EXPECT_EQ(kept % 2, 0u);
  EXPECT_EQ(ClientMessage("short"), "short");
  // A detail from elsewhere (a copy_from peer's transport detail, with its trailers) is
  // not passed on; a Flight code keeps its code, and its extra_info when small.
  auto peer = arrow::Status::IOError("copy_from peer failed")
                  .WithDetail(std::make_shared<fl::FlightStatusDetail>(
                      fl::FlightStatusCode::Internal, std::string(5000, 'd')));
  auto relayed = ToFlightStatus(peer);
  ASSERT_NE(fl::FlightStatusDetail::UnwrapStatus(relayed), nullptr);
  EXPECT_EQ(CodeOf(relayed), fl::FlightStatusCode::Internal);
  EXPECT_TRUE(fl::FlightStatusDetail::UnwrapStatus(relayed)->extra_info().empty());
  struct Foreign : arrow::StatusDetail {
    const char* type_id() const override { return "foreign"; }
    std::string ToString() const override { return std::string(8000, 't'); }
  };
  auto foreign = ToFlightStatus(arrow::Status::IOError("x").WithDetail(std::make_shared<Foreign>()));
  EXPECT_TRUE(foreign.IsIOError());
  EXPECT_EQ(foreign.detail(), nullptr);
  EXPECT_EQ(ClientMessage(std::string(1024, 'a')), std::string(1024, 'a'));
  // Not UTF-8 at all: the cut backs off no more than a character's length.
  EXPECT_GT(ClientMessage(std::string(4000, '\x80')).find(" ... ["), 300u);
}

TEST(FlightStatusTest, RateLimitedCarriesResourceExhaustedWithItsRetryDelay) {
  auto st = ToFlightStatus(RateLimited(4, "rate limit: slow down"));
  auto detail = fl::FlightStatusDetail::UnwrapStatus(st);
  ASSERT_NE(detail, nullptr);
  // Flight's nearest code; the interceptor makes the gRPC code RESOURCE_EXHAUSTED.
  EXPECT_EQ(detail->code(), fl::FlightStatusCode::Unavailable);
  auto rich = DecodeRpcStatus(detail->extra_info());
  ASSERT_TRUE(rich.has_value());
  EXPECT_EQ(rich->code, kGrpcResourceExhausted);
  EXPECT_EQ(rich->retry_after_s, 4);
  EXPECT_NE(st.message().find("slow down"), std::string::npos);
}

// A full disk is RESOURCE_EXHAUSTED without a retry delay: it lasts until an operator
// frees space (HTTP 507).
TEST(FlightStatusTest, DiskFullIsResourceExhaustedWithoutARetryDelay) {
  auto st = ToFlightStatus(DiskFull("disk full: 3 MiB free under /x"));
  auto detail = fl::FlightStatusDetail::UnwrapStatus(st);
  ASSERT_NE(detail, nullptr);
  auto rich = DecodeRpcStatus(detail->extra_info());
  ASSERT_TRUE(rich.has_value());
  EXPECT_EQ(rich->code, kGrpcResourceExhausted);
  EXPECT_EQ(rich->retry_after_s, 0);
  EXPECT_STREQ(GrpcCodeName(st), "RESOURCE_EXHAUSTED");
}

TEST(RpcStatusTest, EncodesWhatGrpcClientsDecode) {
  // google.rpc.Status{code: 8, message: "m"}: field 1 varint 8, field 2 "m".
  EXPECT_EQ(EncodeRpcStatus(8, "m", 0), std::string("\x08\x08\x12\x01m", 5));
  auto rich = DecodeRpcStatus(EncodeRpcStatus(8, std::string(300, 'x'), 1234567));
  ASSERT_TRUE(rich.has_value());
  EXPECT_EQ(rich->code, 8);
  EXPECT_EQ(rich->retry_after_s, 1234567);
  EXPECT_FALSE(DecodeRpcStatus("\x12\x05" "ab").has_value());  // truncated
  EXPECT_FALSE(DecodeRpcStatus("").has_value());              // no code
  EXPECT_FALSE(DecodeRpcStatus("garbage\xff\xff").has_value());
}

}  // namespace flight_status_test
}  // namespace arrowport::flight
