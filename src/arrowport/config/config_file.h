#pragma once

#include <cstdint>
#include <string>

#include "arrow/result.h"

namespace arrowport::config {

/// Largest config file read; a YAML config is a few KiB, so anything near this is a
/// wrong path (a log, a database) and reading it whole would only burn memory.
constexpr int64_t kMaxConfigFileBytes = int64_t{16} << 20;

/// \brief Reads a config file whole. Refuses what is not a regular file (a directory
/// would read as empty, i.e. an all-defaults config; /dev/zero or a FIFO would never end)
/// and files over kMaxConfigFileBytes. Symlinks are followed.
arrow::Result<std::string> ReadConfigFile(const std::string& path);

}  // namespace arrowport::config
