#pragma once

#include <string>

namespace CLI {
class App;
}

namespace arrowport::cli {

/// What `arrowport copy` was asked.
struct CopyArgs {
  std::string from;
  std::string to;
  std::string table;
  std::string sql;
  std::string target;
  std::string mode;
  std::string commit;
  std::string tls_ca;
  double connect_wait = 10;  ///< --connect-wait (server_probe.h)
};

/// Registers `arrowport copy` on `app`, filling `args`.
CLI::App* AddCopy(CLI::App& app, CopyArgs& args);

/// \brief Asks the --to server to pull the table or query from the --from server (the
/// copy_from action: the rows go server to server, never through this process). On a
/// terminal, a progress line shows while it runs and the summary when done. Exit code.
int RunCopy(const CopyArgs& args);

}  // namespace arrowport::cli
