#include "arrowport/query/backup_service.h"

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <cstdio>
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
       std::shared_ptr<CallCancellation> stop_all, BackupOperation::LakeSnapshots lakes,
       Logger* log)
      : operation(database, std::move(s3), std::move(lakes), log), schedule(std::move(plan)),
        stop(std::move(stop_all)), logger(log) {}

  BackupOperation operation;
  const BackupSchedule schedule;
  std::shared_ptr<CallCancellation> stop;  // the server's; may be null
  Logger* logger;
  mutable std::mutex mutex;  // guards outcome and stopping
  std::condition_variable wake;
  BackupOutcome outcome;
  bool stopping = false;
  std::thread scheduler;

  void Loop() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      wake.wait_for(lock, schedule.every, [this] { return stopping; });
      if (stopping) break;
      lock.unlock();
      (void)Backup(schedule.to, nullptr, "schedule");  // its outcome is recorded
      lock.lock();
    }
  }

  // One backup, `by` "call" or "schedule": logged and recorded.
  arrow::Result<BackupManifest> Backup(const std::string& to,
                                       const std::shared_ptr<CallCancellation>& cancellation,
                                       const char* by);
  // Records and logs how a backup went.
  void Record(const arrow::Result<BackupManifest>& result, const std::string& to,
              const char* by, double seconds);
};

BackupService::BackupService(storage::Database* database, objectstore::S3Settings s3,
                             BackupSchedule schedule, std::shared_ptr<CallCancellation> stop,
                             BackupOperation::LakeSnapshots lakes, Logger* logger)
    : impl_(std::make_unique<Impl>(database, std::move(s3), std::move(schedule),
                                   std::move(stop), std::move(lakes), logger)) {}

BackupService::~BackupService() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->scheduler.joinable()) impl_->scheduler.join();
}

void BackupService::Start() {
  impl_->operation.RemoveStaleStaging();
  if (impl_->schedule.every.count() <= 0 || impl_->schedule.to.empty()) return;
  impl_->scheduler = std::thread([this] { impl_->Loop(); });
}

arrow::Result<BackupManifest> BackupService::Run(
    const std::string& destination, const std::shared_ptr<CallCancellation>& cancellation) {
  return impl_->Backup(destination.empty() ? impl_->schedule.to : destination, cancellation,
                       "call");
}

arrow::Result<BackupManifest> BackupService::Impl::Backup(
    const std::string& to, const std::shared_ptr<CallCancellation>& cancellation,
    const char* by) {
  if (to.empty()) {
    return arrow::Status::Invalid(
        "backup: no destination: give one (--to PATH|s3://bucket/prefix) or configure "
        "backup.to");
  }
  // Ended by the call's cancellation or by the server's stop, whichever comes first.
  auto watched = std::make_shared<CallCancellation>();
  CallCancellation::Subscription by_call, by_stop;
  for (const auto& source : {cancellation, stop}) {
    if (source == nullptr) continue;
    // (The relay runs under the source's lock, while it cancels: asking the source for
    // its reason there waited for that lock forever, and a SIGTERM during a backup hung
    // the server. The reason is taken after the backup, below.)
    auto relay = CallCancellation::OnCancel(source, [watched] {
      watched->Cancel(arrow::Status::Cancelled("backup cancelled"));
    });
    (source == cancellation ? by_call : by_stop) = std::move(relay);
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    outcome.last_attempt_unix = UnixNow();
  }
  const int keep = to == schedule.to ? schedule.keep : 0;
  if (logger != nullptr) logger->Info("backup started", {{"by", by}, {"to", to}});
  const auto start = std::chrono::steady_clock::now();
  auto result = operation.Run(to, keep, watched);
  if (!result.ok() && watched->cancelled()) {
    // Said as the call or the server's stop said it (client gone, shutting down).
    for (const auto& source : {cancellation, stop}) {
      if (source != nullptr && source->cancelled()) {
        result = source->reason().WithMessage("backup: ", source->reason().message());
        break;
      }
    }
  }
  Record(result, to, by,
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return result;
}

void BackupService::Impl::Record(const arrow::Result<BackupManifest>& result,
                                 const std::string& to, const char* by, double seconds) {
  char elapsed[32];
  std::snprintf(elapsed, sizeof(elapsed), "%.3f", seconds);
  if (logger != nullptr && result.ok()) {
    int64_t bytes = 0;
    for (const auto& file : result->files) bytes += file.bytes;
    logger->Info("backup written", {{"by", by},
                                    {"to", to},
                                    {"id", result->id},
                                    {"seconds", elapsed},
                                    {"bytes", std::to_string(bytes)},
                                    {"tables", std::to_string(result->tables.size())}});
  } else if (logger != nullptr) {
    logger->Warn("backup failed", {{"by", by},
                                   {"to", to},
                                   {"seconds", elapsed},
                                   {"error", result.status().ToString()}});
  }
  std::lock_guard<std::mutex> lock(mutex);
  ++outcome.runs;
  outcome.last_ok = result.ok();
  if (result.ok()) {
    outcome.last_success_unix = UnixNow();
    outcome.last_id = result->id;
    outcome.last_error.clear();
  } else {
    ++outcome.failures;
    outcome.last_error = result.status().ToString();
  }
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
