#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "arrowport/cli/backup_commands.h"
#include "arrowport/cli/client_options.h"
#include "arrowport/cli/copy.h"
#include "arrowport/cli/inspect.h"
#include "arrowport/cli/server_probe.h"
#include "arrowport/cli/sql_shell.h"
#include "arrowport/config/config.h"

namespace CLI {
class App;
}

// The `arrowport` command line, parsed without running anything (commands.cc runs it).
namespace arrowport::cli {

/// The subcommand a command line names.
enum class Command {
  kVersion,
  kServe,
  kIngest,
  kQuery,
  kTables,
  kStreams,
  kStatus,
  kGenerate,
  kCopy,
  kHashPassword,
  kBench,
  kSql,
  kBackup,
  kRestore,
};

/// What `serve`, `ingest`, `query` and `generate` were asked, one field group per
/// subcommand (the other commands' fields keep their defaults).
struct CommandArgs {
  // serve (-1: a port not given; empty: a value not given)
  std::string config_path, db, flight_host, log_format;
  std::vector<std::string> parquet_files;
  std::optional<std::string> parquet_view;
  int flight_port = -1, http_port = -1, metrics_port = -1;
  // ingest, query (and their server)
  std::vector<std::string> files;
  std::string stream, table, mode = "append", commit, server_url = kDefaultServer, tls_ca;
  int64_t batch_rows = 65536;
  double connect_wait = kDefaultConnectWaitSeconds;
  std::string sql, format, output;
  // generate
  std::string preset;
  int64_t rows = 1'000'000;
  uint64_t seed = 42;
};

/// \brief A command line parsed: the command and its options, or, when parsing ended the
/// run (help, --version, a usage error, an `ARROWPORT_*` value an option refuses), the
/// process's exit code, the text already printed.
struct CommandLine {
  Command command = Command::kVersion;
  CommandArgs args;    ///< serve, ingest, query, generate
  InspectArgs inspect;  ///< tables, streams, status
  CopyArgs copy;
  SqlShellArgs sql;
  BackupArgs backup;  ///< backup, restore
  std::optional<int> exit_code;
};

/// \brief Parses `argv` as the `arrowport` executable does: each command's options, their
/// `ARROWPORT_*` fallbacks, defaults and checks. Help and `--version` go to `out`; usage
/// errors to `err`, naming the option (exit code 2).
CommandLine ParseCommandLine(int argc, const char* const* argv, std::ostream& out,
                             std::ostream& err);

/// `serve`'s options as config overrides: what was not given leaves the config file's
/// and the environment's values in place.
config::Overrides ServeOverrides(const CommandArgs& args);

}  // namespace arrowport::cli
