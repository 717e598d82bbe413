#pragma once

#include <string>
#include <utility>
#include <vector>

namespace arrowport::storage {

/// How deep an expression may nest (DuckDB's max_expression_depth, 1000 by default).
/// DuckDB counts a nested type's name about six deep a level: 400 keeps the 64 levels
/// of nesting Arrow's IPC allows (in the CREATE TABLE and casts the server writes), and a
/// literal 400 deep binds in seconds.
inline constexpr int kMaxExpressionDepth = 400;

/// \brief DuckDB's own file-access sandbox for SQL: `enable_external_access` off (no
/// read_csv('/etc/passwd'), glob('/*'), COPY ... TO, ATTACH, INSTALL, http/s3 reads),
/// with `allowed_paths`/`allowed_directories` covering only the configured views' files
/// so those views keep working, then `lock_configuration` so no SQL can change any of
/// it, nor the operator's memory_limit, threads, temp directory and size. DuckDB's own
/// spilling to its temp directory and the server's own writes (the database file, its
/// WAL, checkpoints) are not file access from SQL and keep working. Expressions nest at
/// most kMaxExpressionDepth deep.
class SqlSandboxSettings {
 public:
  /// Allows reading the files of `views` (name -> file or glob): a file by its path, a
  /// glob by the directory that holds its first wildcard.
  static SqlSandboxSettings ForViews(
      const std::vector<std::pair<std::string, std::string>>& views);

  /// Also allows reading everything under `prefix` (the lake file system's paths).
  void AllowDirectory(std::string prefix) { allowed_directories_.push_back(std::move(prefix)); }

  const std::vector<std::string>& allowed_paths() const { return allowed_paths_; }
  const std::vector<std::string>& allowed_directories() const {
    return allowed_directories_;
  }

  /// The statements that apply the settings (they are database-wide), lock last: run
  /// them in order, once, after the server's own setup (extensions, init_sql, views):
  /// nothing can change after. The sandbox only says what to run; the database runs it.
  std::vector<std::string> Statements() const;

 private:
  std::vector<std::string> allowed_paths_;
  std::vector<std::string> allowed_directories_;
};

}  // namespace arrowport::storage
