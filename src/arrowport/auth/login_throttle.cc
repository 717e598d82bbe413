#include "arrowport/auth/login_throttle.h"

#include <algorithm>

#include "arrowport/common/status_detail.h"

namespace arrowport::auth {

namespace {
// Addresses remembered at most; beyond it expired windows are dropped first, then all
// (an attacker with this many addresses is not stopped by a per-address limit anyway).
constexpr size_t kMaxAddresses = 65536;
}  // namespace

LoginThrottle::LoginThrottle(int max_failures, std::chrono::seconds window)
    : max_failures_(max_failures), window_(window) {}

arrow::Status LoginThrottle::Check(const std::string& key, Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = windows_.find(key);
  if (it == windows_.end() || it->second.failures < max_failures_) return arrow::Status::OK();
  const auto ends = it->second.start + window_;
  if (now >= ends) return arrow::Status::OK();
  const int64_t wait =
      std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(ends - now).count());
  return RateLimited(wait, "too many failed logins from ", key, " (", max_failures_, " in ",
                     window_.count(), " s); retry after ", wait, " s");
}

void LoginThrottle::Failed(const std::string& key, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (windows_.size() >= kMaxAddresses && windows_.find(key) == windows_.end()) {
    std::erase_if(windows_, [&](const auto& entry) { return now >= entry.second.start + window_; });
    if (windows_.size() >= kMaxAddresses) windows_.clear();
  }
  auto& window = windows_[key];
  if (window.failures == 0 || now >= window.start + window_) {
    window.failures = 0;
    window.start = now;
  }
  ++window.failures;
}

void LoginThrottle::Succeeded(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  windows_.erase(key);
}

}  // namespace arrowport::auth
