#pragma once

#include <string>

#include "arrow/status.h"
#include "arrowport/config/config.h"

namespace YAML {
class Node;
}

// The `views` section: files and globs exposed as views, and `serve --parquet`, its
// shortcut. Internal to config/ (CheckViewFiles, in config.h, is the public part).
namespace arrowport::config {

/// Parses `views:` (name -> a file or glob, or a list of them) into `config->views`.
/// Errors name `source` and the key (`views.dataset`).
arrow::Status ParseViews(const YAML::Node& node, const std::string& source,
                         Config* config);

/// Applies `--parquet`/`--view` from `overrides`: one view over all the given files,
/// replacing a configured view of the same name. A `--view` that is not a plain
/// identifier is an error naming the flag.
arrow::Status ApplyParquetOverride(const Overrides& overrides, Config* config);

}  // namespace arrowport::config
