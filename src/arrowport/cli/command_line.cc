#include "arrowport/cli/command_line.h"

#include <CLI/CLI.hpp>

#include <ostream>

#include "arrowport/cli/exit_status.h"
#include "arrowport/cli/generate.h"
#include "arrowport/common/version.h"

namespace arrowport::cli {

namespace {

void AddServerOptions(CLI::App* command, CommandArgs& a) {
  command->add_option("--server", a.server_url, "Server URL: grpc://, grpc+tls://, http://, https://")
      ->envname("ARROWPORT_SERVER")
      ->capture_default_str();
  command->add_option("--tls-ca", a.tls_ca, "PEM file of CA certificates to trust (TLS)")
      ->envname("ARROWPORT_TLS_CA")
      ->check(CLI::ExistingFile);
  AddConnectWaitOption(command, a.connect_wait);
  command->footer(kClientAuthHelp);
}

// tables, streams, status: a server and an output format.
CLI::App* AddInspect(CLI::App& app, InspectArgs& args, const char* name, const char* help) {
  auto* command = app.add_subcommand(name, help);
  command->add_option("--server", args.server_url,
                      "Server URL: grpc://, grpc+tls:// (status also http://, https://)")
      ->envname("ARROWPORT_SERVER")
      ->default_val(kDefaultServer);
  command->add_option("--tls-ca", args.tls_ca, "PEM file of CA certificates to trust (TLS)")
      ->envname("ARROWPORT_TLS_CA")
      ->check(CLI::ExistingFile);
  command->add_option("--format,-f", args.format,
                      "table or json (default: a table on a terminal)")
      ->check(CLI::IsMember({"table", "json"}));
  AddConnectWaitOption(command, args.connect_wait);
  command->footer(kClientAuthHelp);
  return command;
}

CLI::App* AddStatus(CLI::App& app, InspectArgs& args) {
  auto* status = AddInspect(app, args, "status",
                            "What the status page shows: listeners, streams with their rates, "
                            "tables, active requests, recent errors");
  status->add_flag("--ready", args.ready,
                   "Readiness only (HTTP: GET /readyz, which needs no sign-in): exit 0 when "
                   "ready, 1 when not; for health checks");
  return status;
}

CLI::App* AddServe(CLI::App& app, CommandArgs& a) {
  // The defaults shown are the config's own: an option left out leaves the config file's
  // or the environment's value (ARROWPORT_<KEY>) in place, so none is set here.
  const config::Config defaults;
  auto* serve = app.add_subcommand("serve", "Run the server (Flight and HTTP)");
  serve->add_option("--config,-c", a.config_path, "YAML config file (docs/configuration.md)")
      ->envname("ARROWPORT_CONFIG");
  serve->add_option("--db", a.db, "Database file, or :memory: (db_path, ARROWPORT_DB_PATH)")
      ->default_str(defaults.db_path);
  serve->add_option("--host", a.flight_host,
                    "Address both listeners bind (flight.host, http.host)")
      ->default_str(defaults.flight.host);
  serve->add_option("--flight-port", a.flight_port,
                    "Flight gRPC port, 0 = any free port (flight.port, ARROWPORT_FLIGHT_PORT)")
      ->check(CLI::Range(0, 65535))
      ->default_str(std::to_string(defaults.flight.port));
  serve->add_option("--http-port", a.http_port,
                    "HTTP port, 0 = any free port (http.port, ARROWPORT_HTTP_PORT)")
      ->check(CLI::Range(0, 65535))
      ->default_str(std::to_string(defaults.http.port));
  serve->add_option("--metrics-port", a.metrics_port,
                    "A listener of its own for GET /metrics (0 = any free port; metrics.host, "
                    "loopback by default; default: none, /metrics on the HTTP port)")
      ->check(CLI::Range(0, 65535));
  serve->add_option("--log-format", a.log_format, "text or json (log_format)")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str(defaults.log_format);
  auto* parquet = serve->add_option(
      "--parquet", a.parquet_files,
      "Parquet file or glob to query as a view (repeatable; all form one view)");
  serve->add_option("--view", a.parquet_view,
                    std::string("Name of the --parquet view (default ") +
                        config::kDefaultParquetView + ")")
      ->needs(parquet);
  return serve;
}

CLI::App* AddIngest(CLI::App& app, CommandArgs& a) {
  auto* ingest = app.add_subcommand("ingest", "Send Parquet, Arrow IPC or CSV files to a stream");
  ingest->add_option("files", a.files, "Input files (.parquet, .arrow/.arrows/.feather, .csv)")
      ->required()->check(CLI::ExistingFile);
  ingest->add_option("--stream,-s", a.stream, "Stream name")->required();
  ingest->add_option("--table,-t", a.table, "Target table (default: the stream's routing)");
  ingest->add_option("--mode,-m", a.mode, "append, create or replace")
      ->check(CLI::IsMember({"append", "create", "replace"}));
  ingest->add_option("--commit", a.commit, "per_request or per_batch")
      ->check(CLI::IsMember({"per_request", "per_batch"}));
  AddServerOptions(ingest, a);
  ingest->add_option("--batch-rows", a.batch_rows, "Rows per batch read from files")
      ->check(CLI::PositiveNumber);
  return ingest;
}

CLI::App* AddQuery(CLI::App& app, CommandArgs& a) {
  auto* query = app.add_subcommand("query", "Run SQL on a server and print or save the result");
  query->add_option("sql", a.sql, "SQL text")->required();
  query->add_option("--format,-f", a.format, "table, csv, json, parquet, arrow, arrow-file");
  query->add_option("--output,-o", a.output, "Output file (default stdout)");
  AddServerOptions(query, a);
  return query;
}

CLI::App* AddGenerate(CLI::App& app, CommandArgs& a) {
  auto* generate = app.add_subcommand("generate", "Write sample data to a file");
  generate->add_option("--rows,-n", a.rows, "Number of rows")->check(CLI::NonNegativeNumber);
  generate->add_option("--output,-o", a.output, "Output file (.parquet, .arrow, .csv, .json)")
      ->required();
  generate->add_option("--seed", a.seed, "Random seed");
  generate->add_option("--batch-rows", a.batch_rows, "Rows per batch")->check(CLI::PositiveNumber);
  generate->add_option("--preset", a.preset,
                       "Column names: " + SamplePresetHelp() +
                           " (default: id, date, category, value, amount, flag, name)");
  return generate;
}

// CLI11 passes over an environment variable whose value an option's check refuses, leaving
// the default in place without a word (ARROWPORT_CONNECT_WAIT=abc waited 10 s). An option
// of the chosen commands that took nothing while its variable is set was refused: say so.
arrow::Status CheckEnvironmentValues(const CLI::App& command) {
  for (const CLI::Option* option : command.get_options()) {
    const std::string& name = option->get_envname();
    if (name.empty() || option->count() > 0) continue;
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || *value == '\0') continue;
    return arrow::Status::Invalid(name, "=", value, " is not a valid value for ",
                                  option->get_name(), " (", option->get_description(), ")");
  }
  for (const CLI::App* sub : command.get_subcommands()) {
    ARROW_RETURN_NOT_OK(CheckEnvironmentValues(*sub));
  }
  return arrow::Status::OK();
}

}  // namespace

CommandLine ParseCommandLine(int argc, const char* const* argv, std::ostream& out,
                             std::ostream& err) {
  CommandLine line;
  CLI::App app{"Arrowport: move Apache Arrow data in and out of DuckDB over the network",
               "arrowport"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("arrowport ") + arrowport::Version());
  CommandArgs& a = line.args;
  // In the order the help lists them.
  std::vector<std::pair<Command, CLI::App*>> commands = {
      {Command::kServe, AddServe(app, a)},
      {Command::kIngest, AddIngest(app, a)},
      {Command::kQuery, AddQuery(app, a)},
      {Command::kSql, AddSqlShell(app, line.sql)},
      {Command::kTables,
       AddInspect(app, line.inspect, "tables", "List the server's tables and views")},
      {Command::kStreams,
       AddInspect(app, line.inspect, "streams", "Show stream routing and live counters")},
      {Command::kStatus, AddStatus(app, line.inspect)},
      {Command::kGenerate, AddGenerate(app, a)},
      {Command::kCopy, AddCopy(app, line.copy)},
      {Command::kBackup, AddBackup(app, line.backup)},
      {Command::kRestore, AddRestore(app, line.backup)},
      {Command::kHashPassword,
       app.add_subcommand("hash-password",
                          "Read a password (prompt, or stdin) and print its argon2id hash for "
                          "auth.users[].password_hash")},
      {Command::kVersion, app.add_subcommand("version", "Print the version")},
  };
  auto* bench = app.add_subcommand(
      "bench", "The end-to-end benchmark: ./bin/arrowport bench (the arrowport-bench binary)");
  bench->prefix_command();
  commands.emplace_back(Command::kBench, bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    line.exit_code = code == 0 ? kOk : kUsageError;
    return line;
  }
  if (auto environment = CheckEnvironmentValues(app); !environment.ok()) {
    err << "arrowport: error: " << environment.message() << "\n";
    line.exit_code = kUsageError;
    return line;
  }
  for (const auto& [command, sub] : commands) {
    if (sub->parsed()) line.command = command;
  }
  return line;
}

config::Overrides ServeOverrides(const CommandArgs& a) {
  config::Overrides overrides;
  if (!a.db.empty()) overrides.db_path = a.db;
  if (!a.flight_host.empty()) overrides.flight_host = a.flight_host;
  if (!a.flight_host.empty()) overrides.http_host = a.flight_host;
  if (a.flight_port >= 0) overrides.flight_port = a.flight_port;
  if (a.http_port >= 0) overrides.http_port = a.http_port;
  if (a.metrics_port >= 0) overrides.metrics_port = a.metrics_port;
  if (!a.log_format.empty()) overrides.log_format = a.log_format;
  overrides.parquet_files = a.parquet_files;
  overrides.parquet_view = a.parquet_view;
  return overrides;
}

}  // namespace arrowport::cli
