#pragma once

#include <string>

namespace CLI {
class App;
}

namespace arrowport::cli {

/// What `arrowport backup` and `arrowport restore` were asked.
struct BackupArgs {
  std::string server_url;
  std::string tls_ca;
  std::string to;  ///< backup: PATH or s3://bucket/prefix (empty: the server's backup.to)
  double connect_wait = 10;
  std::string from;         ///< restore: a backup, or a destination (its newest backup)
  std::string db;           ///< restore: the database file to write
  bool force = false;       ///< restore: replace an existing file
  std::string config_path;  ///< restore: the `s3` section for s3:// backups
};

/// Registers `arrowport backup` on `app`, filling `args`.
CLI::App* AddBackup(CLI::App& app, BackupArgs& args);
/// Registers `arrowport restore` on `app`, filling `args`.
CLI::App* AddRestore(CLI::App& app, BackupArgs& args);

/// Asks the server for a backup (the `backup` action) and prints its summary. Exit code.
int RunBackup(const BackupArgs& args);
/// Restores a backup into a new database file, with no server. Exit code.
int RunRestore(const BackupArgs& args);

}  // namespace arrowport::cli
