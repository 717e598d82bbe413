#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace arrowport::cli {

/// \brief The SQL shell's history file (~/.arrowport_history). It holds every statement
/// typed (a password in a CREATE SECRET among them), so it is the user's alone (0600, as
/// psql's and bash's) and never a file a symbolic link points at: each read and each
/// write opens the path anew without following a link (O_NOFOLLOW), and a path that is
/// a link or not a regular file ends the history for the session, said once on stderr.
/// Writes are appends under an advisory lock, so that two shells at once keep both their
/// entries. The format is libedit's (its read_history reads it): a first line
/// "_HiStOrY_V2_", then one entry a line with blanks, controls and backslashes in octal
/// (`\040`), as its strvis writes them. Not thread-safe.
class HistoryFile {
 public:
  /// `path` "" keeps no history.
  explicit HistoryFile(std::string path) : path_(std::move(path)) {}

  /// The newest `keep` entries, oldest first; the file is cut to them (it grows by a
  /// session's entries between two starts). Made (0600) when missing.
  std::vector<std::string> Load(size_t keep);
  /// Adds `entry` at the end of the file.
  void Append(const std::string& entry);
  /// Whether entries are still written (false once the file could not be kept).
  bool kept() const { return !path_.empty(); }

  /// One entry as a line of the file (without its line break), and back.
  static std::string Encode(const std::string& entry);
  static std::string Decode(const std::string& line);

 private:
  /// The path opened with `flags` (never through a link) and locked: a descriptor, or -1
  /// after saying why the history ends here.
  int OpenLocked(int flags);
  void Stop(const std::string& why);

  std::string path_;  // "" once no history is kept
};

}  // namespace arrowport::cli
