#include "arrowport/common/request_limiter.h"

#include "arrowport/common/status_detail.h"

namespace arrowport {

arrow::Result<RequestLimiter::Permit> RequestLimiter::TryAcquire() {
  const int now = in_flight_->fetch_add(1) + 1;
  if (now > limit_) {
    in_flight_->fetch_sub(1);
    return ServerBusy("server busy: ", limit_,
                      " calls already in flight (limits.max_concurrent_requests); retry later");
  }
  return Permit(in_flight_);
}

}  // namespace arrowport
