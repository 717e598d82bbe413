#pragma once

#include <atomic>
#include <memory>

#include "arrow/result.h"

namespace arrowport {

/// \brief Admission control: at most `limit` calls run at once across every protocol
/// (limits.max_concurrent_requests). A refused call gets a ServerBusy status that each
/// protocol maps once (HTTP 503 with Retry-After, Flight UNAVAILABLE). Thread-safe.
class RequestLimiter {
 public:
  /// Held for the duration of one call.
  class Permit {
   public:
    Permit() = default;
    explicit Permit(std::shared_ptr<std::atomic<int>> in_flight)
        : in_flight_(std::move(in_flight)) {}
    Permit(Permit&&) = default;
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        if (in_flight_) in_flight_->fetch_sub(1);
        in_flight_ = std::move(other.in_flight_);
      }
      return *this;
    }
    ~Permit() {
      if (in_flight_) in_flight_->fetch_sub(1);
    }

   private:
    std::shared_ptr<std::atomic<int>> in_flight_;
  };

  explicit RequestLimiter(int limit)
      : limit_(limit), in_flight_(std::make_shared<std::atomic<int>>(0)) {}

  arrow::Result<Permit> TryAcquire();
  int in_flight() const { return in_flight_->load(); }

 private:
  const int limit_;
  std::shared_ptr<std::atomic<int>> in_flight_;
};

}  // namespace arrowport
