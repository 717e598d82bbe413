#pragma once

// Internal to the Flight adapter: an action whose work streams its progress.

#include <arrow/flight/server.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "arrowport/flight/call_scope.h"

namespace arrowport::flight {

/// \brief Runs an action's `work` on a thread of its own, holding the call's scope (its
/// admission, watch and meter), and streams it: every kProgressPeriod a result
/// `{"progress": {"rows", "bytes", "seconds"}}` (what the call's CallProgress counted:
/// the pipelines add to it), then the work's own answer, or its error. A client that
/// stops reading ends the stream: the work is cancelled and joined. Read by one gRPC
/// thread at a time, like any result stream.
class ProgressResultStream : public arrow::flight::ResultStream {
 public:
  using Work = std::function<arrow::Result<std::string>(const CallContext&)>;
  static constexpr auto kProgressPeriod = std::chrono::milliseconds(250);

  ProgressResultStream(CallScope scope, Work work);
  ~ProgressResultStream() override;

  arrow::Result<std::unique_ptr<arrow::flight::Result>> Next() override;

 private:
  CallScope scope_;  // the work reads scope_.context until it is joined
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mutex_;  // guards outcome_ and delivered_
  std::condition_variable ended_;
  std::optional<arrow::Result<std::string>> outcome_;  // set when the work ends
  bool delivered_ = false;
  std::thread worker_;  // last: started once everything above exists
};

}  // namespace arrowport::flight
