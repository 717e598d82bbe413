#include "arrowport/query/backup_service.h"

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "arrowport/common/iso_time.h"

namespace arrowport::query {

using json = nlohmann::json;

namespace {

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct BackupService::Impl {
  Impl(storage::Database* database, objectstore::S3Settings s3, BackupSchedule plan,
       std::shared_ptr<CallCancellation> stop_all)
      : operation(database, std::move(s3)), schedule(std::move(plan)),
        stop(std::move(stop_all)) {}

  BackupOperation operation;
  const BackupSchedule schedule;
  std::shared_ptr<CallCancellation> stop;  // the server's; may be null
  mutable std::mutex mutex;  // guards outcome and stopping
  std::condition_variable wake;
  BackupOutcome outcome;
  bool stopping = false;
  std::thread scheduler;

  void Loop(BackupService* service) {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      wake.wait_for(lock, schedule.every, [this] { return stopping; });
      if (stopping) break;
      lock.unlock();
      (void)service->Run("", nullptr);  // its outcome is recorded
      lock.lock();
    }
  }
};

BackupService::BackupService(storage::Database* database, objectstore::S3Settings s3,
                             BackupSchedule schedule, std::shared_ptr<CallCancellation> stop)
    : impl_(std::make_unique<Impl>(database, std::move(s3), std::move(schedule),
                                   std::move(stop))) {}

BackupService::~BackupService() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->scheduler.joinable()) impl_->scheduler.join();
}

void BackupService::Start() {
  if (impl_->schedule.every.count() <= 0 || impl_->schedule.to.empty()) return;
  impl_->scheduler = std::thread([this] { impl_->Loop(this); });
}

arrow::Result<BackupManifest> BackupService::Run(
    const std::string& destination, const std::shared_ptr<CallCancellation>& cancellation) {
  const std::string to = destination.empty() ? impl_->schedule.to : destination;
  if (to.empty()) {
    return arrow::Status::Invalid(
        "backup: no destination: give one (--to PATH|s3://bucket/prefix) or configure "
        "backup.to");
  }
  // Ended by the call's cancellation or by the server's stop, whichever comes first.
  auto watched = std::make_shared<CallCancellation>();
  CallCancellation::Subscription by_call, by_stop;
  for (const auto& source : {cancellation, impl_->stop}) {
    if (source == nullptr) continue;
    auto relay = CallCancellation::OnCancel(source, [watched, weak = std::weak_ptr(source)] {
      if (auto from = weak.lock()) watched->Cancel(from->reason());
    });
    (source == cancellation ? by_call : by_stop) = std::move(relay);
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->outcome.last_attempt_unix = UnixNow();
  }
  const int keep = to == impl_->schedule.to ? impl_->schedule.keep : 0;
  auto result = impl_->operation.Run(to, keep, watched);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  ++impl_->outcome.runs;
  impl_->outcome.last_ok = result.ok();
  if (result.ok()) {
    impl_->outcome.last_success_unix = UnixNow();
    impl_->outcome.last_id = result->id;
    impl_->outcome.last_error.clear();
  } else {
    ++impl_->outcome.failures;
    impl_->outcome.last_error = result.status().ToString();
  }
  return result;
}

BackupOutcome BackupService::outcome() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->outcome;
}

std::string BackupService::OutcomeJson(bool with_details) const {
  const BackupOutcome seen = outcome();
  if (seen.runs == 0 && impl_->schedule.to.empty()) return "";
  json doc = {{"runs", seen.runs},
              {"failures", seen.failures},
              {"last_ok", seen.last_ok},
              {"last_success", seen.last_success_unix > 0
                                   ? json(IsoUtcTime(seen.last_success_unix))
                                   : json(nullptr)},
              {"last_backup", seen.last_id}};
  if (impl_->schedule.every.count() > 0) doc["every_s"] = impl_->schedule.every.count();
  if (with_details && !seen.last_ok && !seen.last_error.empty()) {
    doc["last_error"] = seen.last_error;
  }
  return doc.dump();
}

std::string BackupSummaryJson(const BackupManifest& manifest, const std::string& destination) {
  json tables = json::array();
  for (const auto& table : manifest.tables) {
    tables.push_back({{"table", table.schema + "." + table.name}, {"rows", table.rows}});
  }
  int64_t bytes = 0;
  for (const auto& file : manifest.files) bytes += file.bytes;
  return json{{"status", "ok"},
              {"id", manifest.id},
              {"destination", destination},
              {"created_at", manifest.created_at},
              {"bytes", bytes},
              {"tables", std::move(tables)},
              {"request_ids", manifest.request_ids.size()}}
      .dump();
}

}  // namespace arrowport::query
