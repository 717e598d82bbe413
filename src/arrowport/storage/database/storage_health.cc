#include "arrowport/storage/database/storage_health.h"

#include <nlohmann/json.hpp>

#include "arrowport/common/iso_time.h"

namespace arrowport::storage {

using json = nlohmann::json;

namespace {

// DuckDB's error, or what stands for it for a caller who may not see file names.
std::string ErrorFor(const std::string& error, bool with_details) {
  return with_details ? error : std::string("a fatal DuckDB error (the log has it)");
}

}  // namespace

const char* StorageState(const StorageHealth& health) {
  if (health.reopening) return "reopening";
  if (!health.disk.file_gone.empty()) return "file_gone";
  if (health.disk.full) return "disk_full";
  return "ok";
}

std::string StorageHealthJson(const StorageHealth& health, bool with_details) {
  json out;
  const std::string state = StorageState(health);
  out["state"] = state;
  out["writes"] = health.reopening                ? "refused: the database is being reopened"
                  : !health.disk.file_gone.empty() ? "refused: the database file is gone"
                  : health.disk.full              ? "refused: disk full"
                                                  : "accepted";
  json disk = {{"free_bytes", health.disk.free_bytes},
               {"min_free_bytes", health.disk.needed_bytes},
               {"full", health.disk.full}};
  if (with_details) disk["path"] = health.disk.path;
  out["disk"] = std::move(disk);
  out["checkpoint_deferred"] = health.checkpoint_deferred;
  out["reopens"] = health.reopens;
  std::string summary;
  if (health.reopening) {
    summary = "database invalidated, being reopened after: " +
              ErrorFor(health.invalidated_by, with_details);
    json reopening = {{"after", ErrorFor(health.invalidated_by, with_details)}};
    if (!health.reopen_error.empty()) {
      reopening["last_attempt_error"] = ErrorFor(health.reopen_error, with_details);
    }
    out["reopening"] = std::move(reopening);
  } else if (!health.disk.file_gone.empty()) {
    summary = with_details ? health.disk.file_gone
                           : "the database file was deleted or replaced while the server "
                             "ran: writes are refused until it is restarted";
  } else if (health.disk.full) {
    summary = with_details ? DiskFullMessage(health.disk)
                           : "disk full: " + std::to_string(health.disk.free_bytes >> 20) +
                                 " MiB free, writes need " +
                                 std::to_string(health.disk.needed_bytes >> 20) +
                                 " MiB (storage.min_free_mb)";
  }
  if (health.reopens > 0) {
    const std::string at = IsoUtcTime(health.last_reopen_unix);
    const std::string after = ErrorFor(health.last_reopen_after, with_details);
    out["last_reopen"] = {{"at", at}, {"after", after}};
    const std::string reopened = "database reopened at " + at + " after: " + after;
    summary = summary.empty() ? reopened : summary + "; " + reopened;
  }
  out["summary"] = summary.empty() ? "ok" : summary;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace arrowport::storage
