#include "arrowport/flight/flight_status.h"

#include <arrow/flight/types.h>
#include <gtest/gtest.h>

#include "arrowport/common/status_detail.h"

namespace arrowport::flight {
namespace {

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
  // Unauthorized is what gRPC calls PERMISSION_DENIED.
  EXPECT_EQ(CodeOf(ToFlightStatus(PermissionDenied("no ATTACH"))),
            fl::FlightStatusCode::Unauthorized);
  // Untyped statuses keep Arrow's own mapping.
  EXPECT_TRUE(ToFlightStatus(arrow::Status::KeyError("t")).IsKeyError());
  EXPECT_TRUE(ToFlightStatus(arrow::Status::Invalid("x")).IsInvalid());
  EXPECT_TRUE(ToFlightStatus(arrow::Status::OK()).ok());
}

}  // namespace
}  // namespace arrowport::flight
