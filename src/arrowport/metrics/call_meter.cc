// CallMeter, and the calls and errors ServerMetrics keeps for the status page.
#include "arrowport/metrics/server_metrics.h"

#include <algorithm>
#include <ctime>

namespace arrowport::metrics {

namespace {

// Recent errors kept for the status page, of them at most so many of one code (a flood of
// 401s cannot push every other error out), and the longest message kept of each.
constexpr size_t kRecentErrors = 50;
constexpr size_t kRecentErrorsPerCode = 10;
constexpr size_t kErrorMessageChars = 300;

}  // namespace

CallMeter::CallMeter(ServerMetrics* metrics, uint64_t id, std::shared_ptr<CallProgress> progress)
    : metrics_(metrics), id_(id), progress_(std::move(progress)) {}

CallMeter::CallMeter(CallMeter&& other) noexcept { *this = std::move(other); }

CallMeter& CallMeter::operator=(CallMeter&& other) noexcept {
  if (this != &other) {
    Record();
    metrics_ = other.metrics_;
    id_ = other.id_;
    code_ = std::move(other.code_);
    message_ = std::move(other.message_);
    progress_ = std::move(other.progress_);
    other.metrics_ = nullptr;
  }
  return *this;
}

void CallMeter::SetProtocol(std::string protocol) {
  Update([&](auto& entry) { entry.protocol = ProtocolLabel(protocol); });
}

void CallMeter::SetUser(std::string user) {
  Update([&](auto& entry) { entry.user = std::move(user); });
}

void CallMeter::SetMethod(std::string method) {
  Update([&](auto& entry) { entry.method = std::move(method); });
}

void CallMeter::SetTarget(std::string target) {
  Update([&](auto& entry) { entry.target = std::move(target); });
}

template <typename Fn>
void CallMeter::Update(Fn&& change) {
  if (metrics_ == nullptr) return;
  std::lock_guard<std::mutex> lock(metrics_->calls_mutex_);
  auto found = metrics_->calls_.find(id_);
  if (found != metrics_->calls_.end()) change(found->second);
}

void CallMeter::SetOutcome(std::string code, std::string message) {
  code_ = std::move(code);
  message_ = std::move(message);
}

void CallMeter::Record() {
  if (metrics_ == nullptr) return;
  metrics_->EndCall(*this);
  metrics_ = nullptr;
}

CallMeter ServerMetrics::BeginCall(const std::string& protocol, std::string method,
                                   std::string user) {
  auto progress = std::make_shared<CallProgress>();
  std::lock_guard<std::mutex> lock(calls_mutex_);
  const uint64_t id = next_call_++;
  calls_.emplace(id, CallEntry{ProtocolLabel(protocol), std::move(method), std::move(user), "",
                               std::chrono::steady_clock::now(), progress});
  return CallMeter(this, id, std::move(progress));
}

void ServerMetrics::EndCall(CallMeter& meter) {
  CallEntry call;
  {
    // Counted before it stops being running, under the lock the running calls are read
    // with: a scrape (which writes them first) never misses a call in both. The families
    // take locks of their own, never the other way round.
    std::lock_guard<std::mutex> lock(calls_mutex_);
    auto node = calls_.extract(meter.id_);
    if (node.empty()) return;
    call = std::move(node.mapped());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - call.start).count();
    requests_->With({call.protocol, call.method}).Add();
    request_duration_->With({call.protocol}).Observe(seconds);
    if (!meter.code_.empty()) errors_->With({call.protocol, meter.code_}).Add();
  }
  if (meter.code_.empty()) return;
  RecentError error;
  error.unix_time = static_cast<int64_t>(std::time(nullptr));
  error.protocol = std::move(call.protocol);
  error.method = std::move(call.method);
  error.code = meter.code_;
  error.user = std::move(call.user);
  error.message = meter.message_.substr(0, kErrorMessageChars);
  // Every error row says something, even for a failure that came without a message.
  if (error.message.empty()) error.message = "failed with " + error.code + " (no message)";
  std::lock_guard<std::mutex> lock(calls_mutex_);
  const auto same_code = [&](const RecentError& e) { return e.code == meter.code_; };
  if (std::count_if(recent_errors_.begin(), recent_errors_.end(), same_code) >=
      static_cast<std::ptrdiff_t>(kRecentErrorsPerCode)) {
    recent_errors_.erase(std::find_if(recent_errors_.rbegin(), recent_errors_.rend(), same_code)
                             .base() - 1);
  }
  recent_errors_.push_front(std::move(error));
  if (recent_errors_.size() > kRecentErrors) recent_errors_.pop_back();
}

std::vector<ActiveCall> ServerMetrics::ActiveCalls() const {
  const auto now = std::chrono::steady_clock::now();
  std::vector<ActiveCall> out;
  std::lock_guard<std::mutex> lock(calls_mutex_);
  for (const auto& [id, call] : calls_) {
    out.push_back({call.protocol, call.method, call.user, call.target,
                   std::chrono::duration<double>(now - call.start).count(),
                   call.progress->rows.load(std::memory_order_relaxed),
                   call.progress->bytes.load(std::memory_order_relaxed)});
  }
  return out;
}

std::vector<RecentError> ServerMetrics::RecentErrors() const {
  std::lock_guard<std::mutex> lock(calls_mutex_);
  return {recent_errors_.begin(), recent_errors_.end()};
}

}  // namespace arrowport::metrics
