// LakeService's thread (lake_service.h: Start, Stop): lake views refreshed by polling
// their stores, and the tables' upkeep rounds when due.
#include <algorithm>

#include "arrowport/common/status_detail.h"
#include "arrowport/lake/lake_maintenance.h"
#include "arrowport/query/lake_service.h"

namespace arrowport::query {

void LakeService::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LakeService::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stop_ = true;
  }
  wake_.notify_all();
}

void LakeService::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

bool LakeService::stopping() {
  std::lock_guard<std::mutex> lock(wake_mutex_);
  return stop_;
}

void LakeService::Run() {
  std::map<std::string, std::chrono::steady_clock::time_point> upkept;
  for (;;) {
    // Nothing escapes this thread: a bad log or file must not end a serving process.
    try {
      RunOnce(upkept);
    } catch (const std::exception& e) {
      logger_->Error("lake upkeep thread: unexpected exception", {{"error", e.what()}});
    } catch (...) {
      logger_->Error("lake upkeep thread: unexpected exception", {});
    }
    std::unique_lock<std::mutex> lock(wake_mutex_);
    if (wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; })) return;
  }
}

void LakeService::RunOnce(
    std::map<std::string, std::chrono::steady_clock::time_point>& upkept) {
  const auto now = std::chrono::steady_clock::now();
  bool any_lake = false;
  for (const auto& [stream, route] : router_->Routes()) {
    if (route.sink != config::Sink::kLake) continue;
    // A shutdown starts no store work; the round's remaining streams wait for no one.
    if (stopping()) return;
    any_lake = true;
    any_lake_.store(true);
    bool due = true;
    bool refused = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = published_.find(stream);
      due = it == published_.end() ||
            now - it->second.polled >= std::chrono::milliseconds(route.lake.refresh_ms) ||
            (it->second.behind_retry.count() > 0 &&
             now - it->second.polled >= it->second.behind_retry);
      refused = it != published_.end() && it->second.state == kStateRefused;
    }
    if (due) {
      auto st = Refresh(stream);
      // A refusal is logged when it is found (LakeTable), not at every poll after.
      if (!st.ok() && !(refused && HasErrorKind(st, ErrorKind::kTableRefused))) {
        logger_->Warn("lake refresh failed", {{"stream", stream}, {"error", st.message()}});
        std::lock_guard<std::mutex> lock(mutex_);
        Published& published = published_[stream];
        published.polled = now;  // retried after refresh_ms, not at once
        if (published.behind_retry.count() > 0) {  // or sooner, backing off
          published.behind_retry =
              std::min<std::chrono::milliseconds>(published.behind_retry * 2,
                                                  std::chrono::milliseconds(route.lake.refresh_ms));
        }
      }
    }
    auto table = lakes_->Table(route.lake);
    if (!table.ok()) continue;
    auto& last = upkept[route.lake.url];
    if (route.lake.compaction_interval_s > 0 &&
        now - last >= std::chrono::seconds(route.lake.compaction_interval_s)) {
      last = now;
      auto st = lake::Upkeep(table->get());
      if (!st.ok()) {
        // Compaction and checkpoints back off after a failure: this line comes at most as
        // often as they are tried.
        const auto report = (*table)->upkeep().Report(lake::UpkeepHealth::Clock::now());
        logger_->Warn("lake upkeep failed",
                      {{"stream", stream},
                       {"error", st.message()},
                       {"failures_in_a_row", std::to_string(report.failures_in_a_row)},
                       {"retry_in_s",
                        std::to_string((report.retry_in_ms + 999) / 1000)}});
      } else {
        Committed(stream);
      }
    }
  }
  any_lake_.store(any_lake);
}

}  // namespace arrowport::query
