#pragma once

#include <string>

// The commands that look at a running server: tables, streams, status.
namespace arrowport::cli {

/// How a listing is printed: `table` (aligned columns, fitted to the terminal), `json`,
/// or empty: a table on a terminal, else the command's machine-readable form.
struct InspectArgs {
  std::string server_url;
  std::string tls_ca;
  std::string format;
  double connect_wait = 10;  ///< --connect-wait (server_probe.h)
  bool ready = false;        ///< status --ready: readiness only (exit 0 when ready)
};

/// `arrowport tables`: each table and view with its rows (JSON: name, rows, schema;
/// not on a terminal: "name<TAB>N rows" lines).
int RunTables(const InspectArgs& args);
/// `arrowport streams`: routing and live counters (not on a terminal: the JSON).
int RunStreams(const InspectArgs& args);
/// `arrowport status`: what the status page shows (JSON with `--format json`).
int RunStatus(const InspectArgs& args);

/// The status summary as text, from GET /status's JSON (exposed for tests).
std::string StatusText(const std::string& status_json, size_t width);

}  // namespace arrowport::cli
