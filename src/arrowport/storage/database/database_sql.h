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

/// \brief Drops the views an earlier config made (they read through the view file
/// system's prefix) that `file_views` no longer names: their files are out of SQL's reach
/// now, so they could only fail, or show part of their files. Returns their names.
arrow::Result<std::vector<std::string>> DropUnconfiguredFileViews(
    Connection* conn,
    const std::vector<std::pair<std::string, std::string>>& file_views);

/// The statement that loads DuckDB extension `name` (quoted).
std::string LoadExtensionSql(const std::string& name);

}  // namespace arrowport::storage
