#pragma once

// The SQL a database runs as it opens: extensions loaded, the configured file views made.
// Names are quoted here, whatever they hold.

#include <string>
#include <utility>
#include <vector>

#include "arrow/status.h"

namespace arrowport::storage {

class Connection;

/// \brief Creates (or replaces) the views of `file_views`, (view name, file or glob)
/// pairs: a name given several times is one view over all its files (DuckDB reads a
/// list).
/// Each is read with DuckDB's reader for its extension (.parquet, .csv/.csv.gz/.tsv,
/// .json/.jsonl/.ndjson); the files of one view must share it. Errors name `views.NAME`.
/// `gated`: read through the view file system (view_file_system.h, ViewPathOf), which
/// must be registered with every location first.
arrow::Status CreateFileViews(
    Connection* conn, const std::vector<std::pair<std::string, std::string>>& file_views,
    bool gated);

/// The statement that loads DuckDB extension `name` (quoted).
std::string LoadExtensionSql(const std::string& name);

}  // namespace arrowport::storage
