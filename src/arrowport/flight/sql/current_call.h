#pragma once

#include "arrowport/common/call_context.h"

namespace arrowport::flight::sql {

/// \brief The admitted call (cancellation, protocol) a Flight SQL handler serves.
/// FlightSqlServerBase calls our handlers synchronously from the Flight RPC that the
/// dispatcher admitted, on the same thread, so the dispatcher publishes the call's
/// context for that thread while it runs. Handlers read it with Get().
class CurrentCall {
 public:
  explicit CurrentCall(const CallContext* call);
  ~CurrentCall();
  CurrentCall(const CurrentCall&) = delete;
  CurrentCall& operator=(const CurrentCall&) = delete;

  /// The current thread's call (an empty, uncancellable context outside any call).
  static const CallContext& Get();

 private:
  const CallContext* previous_;
};

}  // namespace arrowport::flight::sql
