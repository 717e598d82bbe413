#pragma once

// Internal to storage: the configured views' files, readable by SQL and nothing beside.

#include <duckdb.h>

#include <string>
#include <utility>
#include <vector>

namespace arrowport::storage {

/// \brief The path prefix under which DuckDB reads the files of the configured views:
/// `arrowport-view://` followed by the file's absolute path. The SQL sandbox allows
/// reading under it and under no local directory.
inline constexpr const char* kViewPathPrefix = "arrowport-view://";

/// The path DuckDB reads `location` (a file or glob, relative to the working directory
/// or absolute) by: kViewPathPrefix and its absolute, lexically normal form.
std::string ViewPathOf(const std::string& location);

/// \brief True when the absolute, normal path `file` is one `pattern` names: the file
/// itself, or one its glob matches as DuckDB's glob does (`*`, `?` and `[...]` within a
/// path segment, a `**` segment for any number of directories).
bool ViewPatternMatches(const std::string& pattern, const std::string& file);

/// \brief Registers the DuckDB file system that serves ViewPathOf paths: a path opens
/// (read-only) when its file is one of the `views`' locations ((view name, file or glob)
/// pairs) or matches one of their globs at the moment it is opened (a file added later
/// that the glob matches is read; any other file under the glob's folder, a sub-folder's,
/// a `..` path, is not), and a glob lists the matching files only. A view's location
/// that matches no file (deleted while the server ran) fails naming the view. Once,
/// before the sandbox settings are applied.
void RegisterViewFileSystem(
    duckdb_database database,
    const std::vector<std::pair<std::string, std::string>>& views);

}  // namespace arrowport::storage
