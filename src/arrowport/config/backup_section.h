#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "arrow/result.h"
#include "arrowport/config/config.h"
#include "arrowport/config/integer_key.h"

namespace arrowport::config {

/// A duration: whole seconds, or a number with a unit s, m, h or d ("90s", "30m", "6h",
/// "1d"); 0 is none. At most a year.
arrow::Result<int64_t> ParseDurationSeconds(const std::string& text);

/// The `backup` section's keys backup.every and backup.to for ScalarKeys: YAML and
/// ARROWPORT_BACKUP_* alike.
std::map<std::string, std::function<arrow::Status(Config&, const std::string&)>>
BackupSectionKeys();
/// backup.keep for IntegerKeys.
std::map<std::string, IntegerKey> BackupIntegerKeys();

}  // namespace arrowport::config
