#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/common/call_context.h"
#include "arrowport/common/call_watchdog.h"
#include "arrowport/common/request_limiter.h"

namespace arrowport::http {

class DeadlineSocketStream;

/// \brief One HTTP call that reads or writes the database, as Flight's BeginCall does it:
/// admitted by the RequestLimiter (limits.max_concurrent_requests; a refusal is a
/// ServerBusy status, 503 + Retry-After) and watched by the CallWatchdog, which cancels
/// the call (interrupting DuckDB) when the client hangs up or `timeout` passes. Holds
/// its permit and watch until destroyed: a streamed response keeps it until its body
/// has been written or abandoned. Thread-safe after Begin.
class HttpCall {
 public:
  /// `connection` is the call's connection (null if unknown: then only the timeout applies);
  /// `timeout` 0 means none. `limiter` and `watchdog` may be null. `caller` is the key
  /// the per-user limits count the call against (CallerKey).
  /// `progress`: where the pipelines count what the call moves (its meter's).
  static arrow::Result<std::shared_ptr<HttpCall>> Begin(
      RequestLimiter* limiter, CallWatchdog* watchdog, const DeadlineSocketStream* connection,
      std::chrono::seconds timeout,
      const std::string& caller = "", std::shared_ptr<const Principal> principal = nullptr,
      std::shared_ptr<CallProgress> progress = nullptr);

  const CallContext& context() const { return context_; }

 private:
  HttpCall() = default;
  RequestLimiter::Permit permit_;
  CallContext context_;
  // A cancelled call waiting to write to a client that takes nothing, when it is
  // cancelled or 5 s later (CallCancellation::kStuckAfter; a slow reader held a database
  // reopen as long as it liked), has its socket shut down: the write fails and the
  // response ends, as gRPC's TryCancel ends a Flight call. One still computing is left to
  // end by itself and answer.
  CallCancellation::Subscription cancelled_;
  CallCancellation::Subscription stuck_;
  CallWatchdog::Watch watch_;  // last: removed from the watchdog before the rest goes
};

/// True when the peer of socket `fd` has hung up or the socket failed (poll with
/// POLLRDHUP, no wait). Cheap enough for the watchdog to call every period.
bool PeerHungUp(int fd);

}  // namespace arrowport::http
