#include "arrowport/common/call_cancellation.h"

#include <gtest/gtest.h>

#include "arrowport/common/status_detail.h"

namespace arrowport {
namespace {

TEST(CallCancellation, ACancelledCallReportsItsReasonButKeepsAnUnknownOutcome) {
  auto call = CallCancellation::Make();
  const auto store = arrow::Status::IOError("S3 request abandoned");
  const auto unknown = WithErrorKind(
      arrow::Status::IOError("the commit may or may not have landed; outcome unknown, retry "
                             "with the same request id"),
      ErrorKind::kOutcomeUnknown);
  // Not cancelled: the failure as it is.
  EXPECT_EQ(call->Explain(store).message(), store.message());
  EXPECT_TRUE(call->Explain(arrow::Status::OK()).ok());

  call->Cancel(TimedOut("the client's deadline passed"));
  const auto plain = call->Explain(store);
  EXPECT_TRUE(HasErrorKind(plain, ErrorKind::kTimedOut)) << plain;
  // An unknown outcome stays one (the client must retry with its request id), told why.
  const auto kept = call->Explain(unknown);
  EXPECT_TRUE(HasErrorKind(kept, ErrorKind::kOutcomeUnknown)) << kept;
  EXPECT_EQ(kept.message().rfind("the client's deadline passed: ", 0), 0u) << kept;
  EXPECT_NE(kept.message().find("retry with the same request id"), std::string::npos) << kept;
  EXPECT_TRUE(call->Explain(arrow::Status::OK()).ok());
}

}  // namespace
}  // namespace arrowport
