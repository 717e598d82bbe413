#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/logger.h"
#include "arrowport/objectstore/object_store.h"
#include "arrowport/query/backup.h"

namespace arrowport::query {

/// The `backup:` section: a schedule, a destination, a retention.
struct BackupSchedule {
  std::chrono::seconds every{0};  ///< 0: no scheduled backups
  std::string to;                 ///< a directory or s3://bucket/prefix
  int keep = 0;                   ///< complete backups kept at `to` (0: all)
};

/// How the last backups went, for /metrics, /healthz and the status page.
struct BackupOutcome {
  int64_t runs = 0;
  int64_t failures = 0;
  int64_t last_success_unix = 0;  ///< 0: none yet
  int64_t last_attempt_unix = 0;
  bool last_ok = false;
  std::string last_id;     ///< the last complete backup's id
  std::string last_error;  ///< the last failure's message (names paths: admins only)
};

/// \brief The server's backups: on demand (the `backup` action, POST /admin/backup) and on
/// the schedule (a thread of its own, stopped when the service is destroyed or `stop`
/// is cancelled), one at a time, each one's start and outcome (seconds, bytes) logged
/// and recorded. Thread-safe.
class BackupService {
 public:
  /// `lakes`: BackupOperation's. Outlived by `database` and `logger`.
  BackupService(storage::Database* database, objectstore::S3Settings s3,
                BackupSchedule schedule, std::shared_ptr<CallCancellation> stop,
                BackupOperation::LakeSnapshots lakes, Logger* logger);
  ~BackupService();
  BackupService(const BackupService&) = delete;
  BackupService& operator=(const BackupService&) = delete;

  /// Removes the staging copies backups cut short left (BackupOperation), then starts
  /// the scheduler thread when the schedule has a period.
  void Start();
  /// One backup to `destination` (empty: the schedule's `to`), cancelled by
  /// `cancellation` or the server's stop; the outcome is recorded.
  arrow::Result<BackupManifest> Run(const std::string& destination,
                                    const std::shared_ptr<CallCancellation>& cancellation);
  BackupOutcome outcome() const;
  /// The outcome as a JSON object ("" while no backup was configured nor run);
  /// `with_details`: the last error too.
  std::string OutcomeJson(bool with_details) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A manifest's summary as the `backup` action and POST /admin/backup answer it.
std::string BackupSummaryJson(const BackupManifest& manifest, const std::string& destination);

}  // namespace arrowport::query
