#include "arrowport/lake/upkeep_health.h"

#include <algorithm>

namespace arrowport::lake {

bool UpkeepHealth::WritesDue(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failures_in_a_row_ == 0 || now >= retry_at_;
}

void UpkeepHealth::Failed(const arrow::Status& why, std::chrono::seconds interval,
                          Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++failures_;
  ++failures_in_a_row_;
  last_error_ = why.message();
  const auto base = std::max(interval, std::chrono::seconds(1));
  const auto cap = std::max(base, std::chrono::seconds(kMaxBackoff));
  // 2^n without overflow: past 2^20 the cap has long been reached.
  const int64_t doublings = std::min<int64_t>(failures_in_a_row_, 20);
  const auto wait = std::min<std::chrono::seconds>(cap, base * (int64_t{1} << doublings));
  retry_at_ = now + wait;
}

void UpkeepHealth::Succeeded() {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_in_a_row_ = 0;
  last_error_.clear();
  retry_at_ = {};
}

void UpkeepHealth::SetCompactionDeferred(std::string why) {
  std::lock_guard<std::mutex> lock(mutex_);
  compaction_deferred_ = std::move(why);
}

void UpkeepHealth::RewriteFailed(int64_t input_bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t half = std::max<int64_t>(1, input_bytes / 2);
  rewrite_limit_ = rewrite_limit_ > 0 ? std::min(rewrite_limit_, half) : half;
}

void UpkeepHealth::RewriteLanded(int64_t target_bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (rewrite_limit_ == 0) return;
  rewrite_limit_ = rewrite_limit_ >= target_bytes / 2 ? 0 : rewrite_limit_ * 2;
}

std::optional<int64_t> UpkeepHealth::RewriteLimit() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (rewrite_limit_ == 0) return std::nullopt;
  return rewrite_limit_;
}

UpkeepReport UpkeepHealth::Report(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  UpkeepReport report;
  report.failures = failures_;
  report.failures_in_a_row = failures_in_a_row_;
  report.last_error = last_error_;
  if (failures_in_a_row_ > 0 && retry_at_ > now) {
    report.retry_in_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count();
  }
  report.compaction_deferred = compaction_deferred_;
  report.rewrite_limit_bytes = rewrite_limit_;
  return report;
}

}  // namespace arrowport::lake
