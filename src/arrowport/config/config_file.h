#pragma once

#include <cstdint>
#include <string>

#include "arrow/result.h"

namespace arrowport::config {

/// Largest config file read; a YAML config is a few KiB, so anything near this is a
/// wrong path (a log, a database) and reading it whole would only burn memory.
constexpr int64_t kMaxConfigFileBytes = int64_t{16} << 20;

/// Who besides a file's owner may read it: its mode bits, or its POSIX access ACL when
/// it has one (then the group bits of the mode are the ACL's mask, not the group's right:
/// systemd's credential files read 0440 with only the service's user named in the ACL).
struct FileReaders {
  uint32_t mode = 0;   ///< st_mode & 07777, for messages
  uint32_t owner = 0;  ///< st_uid
  bool everyone = false;  ///< "other" may read: every user of the machine
  /// Who else may read it, in words ("group 'adm'", "user 1001 (ACL)"); empty: nobody
  /// but the owner and this process's own user.
  std::string others;
  bool operator==(const FileReaders&) const = default;
};

/// The readers of the open file `fd` (fstat and, for an ACL, fgetxattr).
arrow::Result<FileReaders> ReadersOf(int fd);

/// A file's text and who may read it, both of the one file opened.
struct FileText {
  std::string text;
  FileReaders readers;
};

/// \brief Reads the file `path` whole, and who may read it (a config file, a key file:
/// what must be private). Refuses what is not a regular file (a directory would read as
/// empty; /dev/zero or a FIFO would never end) and files over `max_bytes`, also when
/// one grows while being read. Symlinks are followed. `what` names the file in errors
/// ("config file 'x'").
arrow::Result<FileText> ReadFileAndReaders(const std::string& path, const std::string& what,
                                           int64_t max_bytes);

/// \brief The secret in the key file `path` (at most 64 KiB), as it is (the caller trims
/// and checks its length). Refused, naming the file and the fix, as OpenSSH refuses a
/// private key others can read: a file other users (its group, users an ACL names) may
/// read or write, one that is not a regular file. `what` names it in errors.
arrow::Result<std::string> ReadPrivateSecret(const std::string& path, const std::string& what);

/// ReadFileAndReaders of a config file (at most kMaxConfigFileBytes).
arrow::Result<FileText> ReadConfigFile(const std::string& path);

}  // namespace arrowport::config
