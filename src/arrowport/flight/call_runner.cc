#include "arrowport/flight/call_runner.h"

#include <grpc/support/time.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <chrono>

#include "arrowport/flight/status_code_interceptor.h"

#include <arrow/flight/types.h>

#include "arrowport/common/caller_key.h"
#include "arrowport/common/call_watchdog.h"
#include "arrowport/common/request_limiter.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/auth_middleware.h"
#include "arrowport/flight/flight_status.h"

namespace arrowport::flight {

namespace fl = arrow::flight;

namespace {

// Whether the client set a deadline: a point in time, not the infinite future some
// clients send instead of none. (gpr time: deadline() converts to nanoseconds, which
// overflows for those far-future deadlines.)
bool IsPointInTime(const gpr_timespec& deadline) {
  return deadline.clock_type != GPR_TIMESPAN &&
         gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) != 0;
}

}  // namespace

arrow::Status CallRunner::CheckCommandSize(size_t size, const char* what) const {
  if (static_cast<int64_t>(size) <= options_.max_command_bytes) return arrow::Status::OK();
  return TooLarge(what, " of ", size, " bytes exceeds flight.max_query_bytes (",
                  options_.max_command_bytes, " bytes): SQL text costs about 100 bytes of "
                  "server memory per byte to plan; send shorter SQL (bind values as "
                  "parameters instead of inlining them)");
}

arrow::Status CallRunner::InternalError(const char* method, const char* what) {
  return fl::MakeFlightError(fl::FlightStatusCode::Internal,
                             std::string("internal error in ") + method + ": " + what);
}

std::string CallRunner::UserOf(const fl::ServerCallContext& context) {
  auto principal = PrincipalOf(context);
  return principal ? principal->user : "-";
}

arrow::Result<CallScope> CallRunner::Admit(const char* method,
                                           const fl::ServerCallContext& context,
                                           Deadline deadline) {
  CallScope scope;
  scope.context.principal = PrincipalOf(context);
  scope.logger = options_.logger;
  scope.log_fields = {{"protocol", "flight"}, {"method", method}, {"user", UserOf(context)}};
  if (options_.limiter) {
    ARROW_ASSIGN_OR_RAISE(scope.permit,
                          options_.limiter->TryAcquire(
                              CallerKey(scope.context.principal.get(), context.peer())));
  }
  scope.context.protocol = "flight";
  scope.context.cancellation = CallCancellation::Make();
  scope.context.committed_late = std::make_shared<std::atomic<bool>>(false);
  scope.context.committed = std::make_shared<std::atomic<bool>>(false);
  auto* server_context = CurrentServerContext();
  if (server_context != nullptr) {
    scope.stuck = CallCancellation::OnStuck(scope.context.cancellation,
                                            [server_context] { server_context->TryCancel(); });
  }
  // The context outlives the scope: both end with the call. A call whose deadline has
  // passed has failed too: gRPC marks it cancelled only once its timer has run (late on a
  // loaded or sanitizer-built server), and the client, whose deadline passed first, has
  // given up on it already.
  scope.context.call_failed = [&context, server_context] {
    if (context.is_cancelled()) return true;
    return server_context != nullptr && DeadlinePassed(*server_context);
  };
  // The reply of a call that ends this close to its deadline may reach the client after
  // it: a tenth of the call's time, at most 100 ms plus 2% of it (gRPC clients round the
  // timeout they send up by up to 1%), is left for the reply, or nothing is kept.
  scope.context.too_late_to_keep = [failed = scope.context.call_failed, server_context,
                                    admitted = gpr_now(GPR_CLOCK_MONOTONIC)] {
    if (failed()) return true;
    if (server_context == nullptr) return false;
    gpr_timespec deadline = server_context->raw_deadline();
    if (!IsPointInTime(deadline)) return false;
    deadline = gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC);
    const int64_t budget_ms = gpr_time_to_millis(gpr_time_sub(deadline, admitted));
    const int64_t margin_ms =
        std::max<int64_t>(0, std::min(budget_ms / 10, 100 + budget_ms / 50));
    const gpr_timespec reply_by =
        gpr_time_sub(deadline, gpr_time_from_millis(margin_ms, GPR_TIMESPAN));
    return gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), reply_by) >= 0;
  };
  if (options_.watchdog) {
    CallWatchdog::Checks checks;
    checks.client_gone = scope.context.call_failed;
    if (deadline == Deadline::kQuery && options_.query_timeout_s > 0) {
      checks.deadline =
          CallWatchdog::Clock::now() + std::chrono::seconds(options_.query_timeout_s);
    }
    if (options_.write_stall_timeout_s > 0) {
      // A client that stops reading leaves Flight's write waiting where no interrupt
      // reaches it: cancelled, then ended by gRPC (the `stuck` last resort above).
      scope.context.write_stall = std::make_shared<WriteStall>();
      checks.stall = scope.context.write_stall;
      checks.stall_timeout = std::chrono::seconds(options_.write_stall_timeout_s);
    }
    scope.watch = options_.watchdog->Add(scope.context.cancellation, std::move(checks));
  }
  return scope;
}

arrow::Status CallRunner::Finish(const char* method, const fl::ServerCallContext& context,
                                 std::chrono::steady_clock::time_point start,
                                 const arrow::Status& status, CallRecord record) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Logger::Fields fields = {{"protocol", "flight"}, {"method", method}, {"user", UserOf(context)}};
  fields.insert(fields.end(), record.fields.begin(), record.fields.end());
  fields.push_back({"seconds", std::to_string(seconds)});
  // A commit that outlasted the time the call had left, or ended too near its deadline
  // for the reply to be sure to arrive: its client may have been told it failed (or
  // nothing), yet the write is kept.
  constexpr const char* kCommittedLate =
      "request committed too late: its client may have been told it failed";
  if (status.ok()) {
    fields.push_back({"status", record.outcome});
    if (options_.logger == nullptr) return status;
    if (record.committed_late) {
      options_.logger->Warn(kCommittedLate, fields);
    } else {
      options_.logger->Info("request", fields);
    }
    return status;
  }
  fields.push_back({"status", status.CodeAsString()});
  fields.push_back({"error", status.message()});
  if (options_.logger) {
    options_.logger->Warn(record.committed_late ? kCommittedLate : "request failed",
                          fields);
  }
  auto flight_status = ToFlightStatus(status);
  if (record.meter) record.meter->SetOutcome(GrpcCodeName(flight_status), status.message());
  return flight_status;
}

}  // namespace arrowport::flight
