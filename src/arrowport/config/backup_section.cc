#include "arrowport/config/backup_section.h"

namespace arrowport::config {

namespace {
constexpr int64_t kMaxBackupPeriodSeconds = int64_t{365} * 24 * 3600;
}  // namespace

arrow::Result<int64_t> ParseDurationSeconds(const std::string& text) {
  const auto unit_at = text.find_first_not_of("0123456789");
  const std::string digits = text.substr(0, unit_at);
  const std::string unit = unit_at == std::string::npos ? "s" : text.substr(unit_at);
  int64_t scale = 0;
  if (unit == "s") scale = 1;
  if (unit == "m") scale = 60;
  if (unit == "h") scale = 3600;
  if (unit == "d") scale = 86400;
  if (digits.empty() || digits.size() > 9 || scale == 0) {
    return arrow::Status::Invalid("must be a duration such as 90s, 30m, 6h or 1d, got '",
                                  text, "'");
  }
  const int64_t seconds = std::stoll(digits) * scale;
  if (seconds > kMaxBackupPeriodSeconds) {
    return arrow::Status::Invalid("must be at most a year (365d), got '", text, "'");
  }
  return seconds;
}

std::map<std::string, std::function<arrow::Status(Config&, const std::string&)>>
BackupSectionKeys() {
  return {
      {"backup.every",
       [](Config& c, const std::string& v) {
         ARROW_ASSIGN_OR_RAISE(c.backup.every_s, ParseDurationSeconds(v));
         return arrow::Status::OK();
       }},
      {"backup.to",
       [](Config& c, const std::string& v) {
         c.backup.to = v;
         return arrow::Status::OK();
       }},
  };
}

std::map<std::string, IntegerKey> BackupIntegerKeys() {
  return {
      {"backup.keep",
       {0, 100000, [](const Config& c) -> int64_t { return c.backup.keep; },
        [](Config& c, int64_t v) { c.backup.keep = v; }, "0..100000 (0 = keep all)"}},
  };
}

}  // namespace arrowport::config
