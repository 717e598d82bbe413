#include "arrowport/cli/backup_commands.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "arrowport/cli/client.h"
#include "arrowport/cli/client_options.h"
#include "arrowport/cli/exit_status.h"
#include "arrowport/cli/server_probe.h"
#include "arrowport/config/config.h"
#include "arrowport/lake/lake_catalog.h"
#include "arrowport/query/backup.h"

extern char** environ;

namespace arrowport::cli {

using json = nlohmann::json;

CLI::App* AddBackup(CLI::App& app, BackupArgs& args) {
  auto* backup = app.add_subcommand(
      "backup", "Ask the server for a consistent copy of its database (admin), while it "
                "serves: PATH or s3://bucket/prefix");
  backup->add_option("--server", args.server_url, "Server URL: grpc://, grpc+tls://")
      ->envname("ARROWPORT_SERVER")
      ->default_val(kDefaultServer);
  backup->add_option("--to", args.to,
                     "Destination, as the server sees it: a directory or s3://bucket/prefix "
                     "(default: the server's backup.to)");
  backup->add_option("--tls-ca", args.tls_ca, "PEM file of CA certificates to trust (TLS)")
      ->envname("ARROWPORT_TLS_CA")
      ->check(CLI::ExistingFile);
  AddConnectWaitOption(backup, args.connect_wait);
  backup->footer(kClientAuthHelp);
  return backup;
}

CLI::App* AddRestore(CLI::App& app, BackupArgs& args) {
  auto* restore = app.add_subcommand(
      "restore", "Write a backup into a new database file for `arrowport serve --db FILE` "
                 "(no server; checksums and tables checked)");
  restore->add_option("--from", args.from,
                      "A backup (its folder), or a destination (its newest complete backup): "
                      "a directory or s3://bucket/prefix")
      ->required();
  restore->add_option("--db", args.db, "The database file to write")->required();
  restore->add_flag("--force", args.force,
                    "Replace an existing database file (and its WAL): stop its server first");
  restore->add_option("--config,-c", args.config_path,
                      "Config file whose `s3` section reaches an s3:// backup")
      ->envname("ARROWPORT_CONFIG");
  return restore;
}

int RunBackup(const BackupArgs& args) {
  if (auto reached = WaitForServer(args.server_url, args.connect_wait,
                                   "--server or set ARROWPORT_SERVER");
      !reached.ok()) {
    return Fail(reached);
  }
  auto conn = FlightConnection::Connect(args.server_url, args.tls_ca);
  if (!conn.ok()) return Fail(conn.status());
  json body = json::object();
  if (!args.to.empty()) body["to"] = args.to;
  auto summary = (*conn)->Action("backup", body.dump());
  if (!summary.ok()) return Fail(summary.status());
  std::printf("%s\n", summary->c_str());
  return kOk;
}

int RunRestore(const BackupArgs& args) {
  std::vector<std::string> environment;
  for (char** e = environ; e && *e; ++e) environment.emplace_back(*e);
  auto config = config::Load(args.config_path, environment, {});
  if (!config.ok()) return Fail(config.status(), kUsageError);
  auto manifest =
      query::RestoreBackup(args.from, args.db, args.force, lake::S3SettingsOf(config->s3));
  if (!manifest.ok()) return Fail(manifest.status());
  int64_t rows = 0;
  for (const auto& table : manifest->tables) rows += table.rows;
  std::printf("restored backup %s (%s, Arrowport %s) into %s: %zu tables, %lld rows, %zu "
              "request ids; checksums verified\n",
              manifest->id.c_str(), manifest->created_at.c_str(),
              manifest->server_version.c_str(), args.db.c_str(), manifest->tables.size(),
              static_cast<long long>(rows), manifest->request_ids.size());
  return kOk;
}

}  // namespace arrowport::cli
