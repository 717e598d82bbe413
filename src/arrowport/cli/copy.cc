#include "arrowport/cli/copy.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "arrowport/cli/client.h"
#include "arrowport/cli/client_options.h"
#include "arrowport/cli/exit_status.h"
#include "arrowport/cli/progress.h"
#include "arrowport/cli/server_probe.h"
#include "arrowport/cli/terminal_text.h"

namespace arrowport::cli {

namespace {

using json = nlohmann::json;

std::string EnvOr(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

CLI::App* AddCopy(CLI::App& app, CopyArgs& args) {
  auto* copy = app.add_subcommand(
      "copy", "Copy a table or query result from one Flight server into a table of an "
              "Arrowport server (server to server)");
  copy->add_option("--from", args.from, "Source Flight server: grpc://host:port or grpc+tls://")
      ->required();
  copy->add_option("--to", args.to, "Target Arrowport server (it pulls from --from; its "
                                    "transfer.allowed_peers must list the source)")
      ->required()
      ->envname("ARROWPORT_SERVER");
  auto* table = copy->add_option("--table,-t", args.table, "Source table");
  auto* sql = copy->add_option("--sql", args.sql, "Source query");
  table->excludes(sql);
  copy->add_option("--target", args.target, "Target table (default: --table)");
  copy->add_option("--mode,-m", args.mode, "append, create or replace")
      ->check(CLI::IsMember({"append", "create", "replace"}));
  copy->add_option("--commit", args.commit, "per_request (all or nothing) or per_batch")
      ->check(CLI::IsMember({"per_request", "per_batch"}));
  copy->add_option("--tls-ca", args.tls_ca, "PEM file of CA certificates to trust for --to")
      ->envname("ARROWPORT_TLS_CA")
      ->check(CLI::ExistingFile);
  AddConnectWaitOption(copy, args.connect_wait);
  copy->footer(
      "The CLI signs in to --to with ARROWPORT_USER / ARROWPORT_PASSWORD; the target signs in "
      "to the source with ARROWPORT_SOURCE_USER / ARROWPORT_SOURCE_PASSWORD or "
      "ARROWPORT_SOURCE_TOKEN, else with its transfer.peers entry.");
  return copy;
}

int RunCopy(const CopyArgs& args) {
  if (args.table.empty() == args.sql.empty()) {
    std::fprintf(stderr, "arrowport: error: give --table or --sql\n");
    return 2;
  }
  const std::string target = args.target.empty() ? args.table : args.target;
  if (target.empty()) {
    std::fprintf(stderr, "arrowport: error: --target is needed with --sql\n");
    return 2;
  }
  json body = {{"source", args.from}, {"target_table", target}};
  if (!args.table.empty()) body["source_table"] = args.table;
  if (!args.sql.empty()) body["sql"] = args.sql;
  if (!args.mode.empty()) body["mode"] = args.mode;
  if (!args.commit.empty()) body["commit"] = args.commit;
  const std::string user = EnvOr("ARROWPORT_SOURCE_USER");
  const std::string token = EnvOr("ARROWPORT_SOURCE_TOKEN");
  if (!user.empty()) {
    body["user"] = user;
    body["password"] = EnvOr("ARROWPORT_SOURCE_PASSWORD");
  } else if (!token.empty()) {
    body["token"] = token;
  }
  // --to is the server this command talks to (it reaches --from itself).
  if (auto reached = WaitForServer(args.to, args.connect_wait, "--to or set ARROWPORT_SERVER");
      !reached.ok()) {
    return Fail(reached);
  }
  auto conn = FlightConnection::Connect(args.to, args.tls_ca);
  if (!conn.ok()) return Fail(conn.status());
  Progress progress("copying " + (args.table.empty() ? std::string("query") : args.table) +
                    " from " + args.from + " to " + args.to);
  // The rows flow between the servers, not through here: on a terminal the target reports
  // the rows it has received while it copies (copy_from's progress results).
  if (progress.shown()) body["progress"] = true;
  auto summary = (*conn)->ActionResults("copy_from", body.dump(), [&](const std::string& r) {
    auto doc = json::parse(r, nullptr, false);
    if (!doc.is_object() || !doc.contains("progress") || !doc["progress"].is_object()) return;
    const auto& p = doc["progress"];
    const auto count = [&](const char* key) {
      return p.contains(key) && p[key].is_number_integer() ? p[key].get<int64_t>() : 0;
    };
    progress.Set(count("rows"), count("bytes"));
  });
  progress.Stop();
  if (!summary.ok()) return Fail(summary.status());
  if (::isatty(STDERR_FILENO)) {
    // The target's own summary: read only fields that are numbers.
    auto doc = json::parse(*summary, nullptr, false);
    auto number = [&](const char* key) {
      return doc.is_object() && doc.contains(key) && doc[key].is_number()
                 ? doc[key].get<double>()
                 : -1.0;
    };
    const double rows = number("rows");
    const double seconds = number("seconds");
    if (rows >= 0 && seconds >= 0) {
      std::fprintf(stderr, "copied %.0f rows (%.1f MB) into %s in %.2f s (%.0f rows/s)\n", rows,
                   std::max(number("bytes"), 0.0) / 1e6, Printable(target).c_str(), seconds,
                   seconds > 0 ? rows / seconds : 0.0);
    }
  }
  std::printf("%s\n", ForTerminal(*summary, STDOUT_FILENO).c_str());
  return 0;
}

}  // namespace arrowport::cli
