#include "arrowport/flight/call_runner.h"

#include <arrow/flight/api.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "arrowport/common/call_context.h"
#include "arrowport/common/logger.h"

namespace arrowport::flight {
namespace call_runner_test {

namespace fl = arrow::flight;

// A Flight server whose only action runs `body` through a CallRunner logging to stderr.
class RunnerServer : public fl::FlightServerBase {
 public:
  explicit RunnerServer(std::function<arrow::Status(CallScope&)> body)
      : runner_({nullptr, nullptr, &logger_}), body_(std::move(body)) {}

  arrow::Status DoAction(const fl::ServerCallContext& context, const fl::Action&,
                         std::unique_ptr<fl::ResultStream>* result) override {
    *result = std::make_unique<fl::SimpleResultStream>(std::vector<fl::Result>{});
    return runner_.Run("do_action", context, Deadline::kNone,
                       [&](CallScope& scope, CallRecord&) { return body_(scope); });
  }

 private:
  Logger logger_;
  CallRunner runner_;
  std::function<arrow::Status(CallScope&)> body_;
};

// The log line of one action call whose method runs `body`.
std::string LogOf(std::function<arrow::Status(CallScope&)> body) {
  RunnerServer server(std::move(body));
  fl::FlightServerOptions options(fl::Location::ForGrpcTcp("127.0.0.1", 0).ValueOrDie());
  EXPECT_TRUE(server.Init(options).ok());
  auto client = fl::FlightClient::Connect(
                    fl::Location::ForGrpcTcp("127.0.0.1", server.port()).ValueOrDie())
                    .ValueOrDie();
  testing::internal::CaptureStderr();
  auto results = client->DoAction(fl::Action{"x", nullptr});
  if (results.ok()) (void)(*results)->Drain();
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(server.Shutdown().ok());
  return log;
}

// A write that committed in a call that then failed (its reply could not be sent) is
// kept: its line must say so. It said "request failed", as for a write rolled back, so
// the log could not tell a client told DEADLINE_EXCEEDED whether its write was kept.
TEST(CallRunnerTest, ACallThatFailsAfterItsWriteCommittedIsLoggedAsCommitted) {
  const std::string log = LogOf([](CallScope& scope) {
    NoteCommitted(scope.context);
    return arrow::Status::IOError("the reply could not be sent");
  });
  EXPECT_NE(log.find("request committed too late"), std::string::npos) << log;
  EXPECT_EQ(log.find("request failed"), std::string::npos) << log;
}

TEST(CallRunnerTest, ACallThatFailsWithoutCommittingIsLoggedAsFailed) {
  const std::string log = LogOf([](CallScope&) {
    return arrow::Status::IOError("the statement failed");
  });
  EXPECT_NE(log.find("request failed"), std::string::npos) << log;
  EXPECT_EQ(log.find("committed too late"), std::string::npos) << log;
}

TEST(CallRunnerTest, AnAnsweredWriteIsLoggedAsARequest) {
  const std::string log = LogOf([](CallScope& scope) {
    NoteCommitted(scope.context);
    return arrow::Status::OK();
  });
  EXPECT_NE(log.find("info request protocol=flight method=do_action"), std::string::npos)
      << log;
  EXPECT_EQ(log.find("committed too late"), std::string::npos) << log;
}

}  // namespace call_runner_test
}  // namespace arrowport::flight
