#include "arrowport/cli/commands.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "arrow/io/interfaces.h"
#include "arrow/record_batch.h"
#include "arrowport/cli/backup_commands.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/command_line.h"
#include "arrowport/cli/copy.h"
#include "arrowport/cli/data_commands.h"
#include "arrowport/cli/exit_status.h"
#include "arrowport/cli/file_io.h"
#include "arrowport/cli/generate.h"
#include "arrowport/cli/hash_password.h"
#include "arrowport/cli/inspect.h"
#include "arrowport/cli/progress.h"
#include "arrowport/cli/server_probe.h"
#include "arrowport/cli/terminal_text.h"
#include "arrowport/cli/text_table.h"
#include "arrowport/config/config.h"
#include "arrowport/http/tls_context.h"
#include "arrowport/query/result_writer.h"
#include "arrowport/server/server.h"
#include "arrowport/common/version.h"

extern char** environ;

namespace arrowport::cli {

namespace {

std::vector<std::string> EnvironEntries() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
  return out;
}

int Serve(const std::string& config_path, const config::Overrides& overrides) {
  server::ServerSetup setup;
  setup.config_path = config_path;
  setup.environ_entries = EnvironEntries();
  setup.overrides = overrides;
  auto config = config::Load(config_path, setup.environ_entries, overrides);
  if (!config.ok()) return Fail(config.status(), kUsageError);
  // A view's missing file is a configuration error (exit 2), found before the database
  // opens; DuckDB would otherwise refuse it at start as a runtime error.
  auto view_files = config::CheckViewFiles(*config, overrides);
  if (!view_files.ok()) return Fail(view_files, kUsageError);
  if (!config->tls.cert.empty()) {
    // Unusable TLS files are a configuration error (exit 2) like the rest of the config;
    // the server loads them again for its listeners.
    auto tls = http::TlsContext::Make(config->tls);
    if (!tls.ok()) return Fail(tls.status(), kUsageError);
  }
  setup.config = *config;
  auto server = server::Server::Start(setup);
  if (!server.ok()) return Fail(server.status());
  std::printf("%s\n", (*server)->ReadyLine().c_str());
  std::fflush(stdout);
  auto st = (*server)->ServeUntilSignal();
  if (!st.ok()) return Fail(st);
  return kOk;
}

}  // namespace

int Main(int argc, char** argv) {
  const CommandLine line = ParseCommandLine(argc, argv, std::cout, std::cerr);
  if (line.exit_code) return *line.exit_code;
  const CommandArgs& a = line.args;
  // gRPC resolves names with its own c-ares resolver, which reads /etc/hosts and
  // resolv.conf only: a name the host's NSS gives (sssd, mDNS, systemd's resolve, LDAP)
  // failed for grpc:// while http:// found it. The native resolver asks getaddrinfo, as
  // every other client here does. Set before gRPC starts (no thread yet); a user's own
  // GRPC_DNS_RESOLVER wins.
  ::setenv("GRPC_DNS_RESOLVER", "native", /*overwrite=*/0);
  if (line.command == Command::kServe) return Serve(a.config_path, ServeOverrides(a));
  // gRPC's own log lines (a failed handshake's) would come before the CLI's message, which
  // says the same in words the user can act on. Not for the server: its log keeps them.
  if (line.command != Command::kBench) ::setenv("GRPC_VERBOSITY", "NONE", /*overwrite=*/0);
  switch (line.command) {
    case Command::kHashPassword:
      return HashPassword();
    case Command::kIngest:
      return Ingest(a.files, a.stream, a.table, a.mode, a.commit, a.server_url, a.tls_ca,
                    a.batch_rows, a.connect_wait);
    case Command::kQuery:
      return Query(a.sql, a.format, a.output, a.server_url, a.tls_ca, a.connect_wait);
    case Command::kTables:
      return RunTables(line.inspect);
    case Command::kStreams:
      return RunStreams(line.inspect);
    case Command::kStatus:
      return RunStatus(line.inspect);
    case Command::kCopy:
      return RunCopy(line.copy);
    case Command::kBackup:
      return RunBackup(line.backup);
    case Command::kRestore:
      return RunRestore(line.backup);
    case Command::kSql:
      return RunSqlShell(line.sql);
    case Command::kGenerate:
      return Generate(a.rows, a.output, a.batch_rows, a.seed, a.preset);
    case Command::kBench:
      std::fprintf(stderr, "arrowport: the benchmark is a binary of its own, arrowport-bench "
                           "beside this one; from a clone, ./bin/arrowport bench builds and "
                           "runs it\n");
      return kUsageError;
    case Command::kServe:
    case Command::kVersion:
      break;
  }
  std::printf("arrowport %s\n", arrowport::Version());
  return kOk;
}

}  // namespace arrowport::cli
