#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace arrowport::cli {

/// What `arrowport sql` was asked.
struct SqlShellArgs {
  std::string server_url, tls_ca;
  double connect_wait = 10;  ///< --connect-wait (server_probe.h)
  std::vector<std::string> commands;  ///< -c: run these (SQL, dot-commands), then end
  std::string file;                   ///< -f: run this file, then end
  std::string mode = "table";         ///< the first .mode
};

/// Registers `arrowport sql` on `app`, filling `args`.
CLI::App* AddSqlShell(CLI::App& app, SqlShellArgs& args);

/// \brief The interactive SQL shell over Flight SQL: line editing and history on a
/// terminal, statements ended by `;`, dot-commands (.help lists them), Ctrl-C cancels the
/// running statement. With -c, -f or a script on standard input it runs them and ends at
/// the first error (exit code 1). Exit code.
int RunSqlShell(const SqlShellArgs& args);

}  // namespace arrowport::cli
