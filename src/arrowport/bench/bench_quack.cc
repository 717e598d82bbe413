// arrowport bench --only quack: push and pull beside DuckDB's own network protocol, quack.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "arrow/table.h"
#include "arrowport/bench/duckdb_ceilings.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/generate.h"
#include "arrowport/test_support/minio_server.h"

namespace arrowport::bench {

namespace {

constexpr const char* kQuackToken = "arrowport-bench";

// Debian's duckdb package ships the extension, unsigned, in a directory its build trusts;
// a binary run from the forky root sees the host's file system, so the root's copy is
// named by its directory (and the databases allow unsigned extensions).
arrow::Status LoadQuack(DuckDBOnly* duckdb) {
  const char* root = std::getenv("ARROWPORT_ROOT");
  const std::string in_root = std::string(root ? root : "") + "/usr/lib/duckdb/extensions";
  if (root != nullptr && std::filesystem::exists(in_root)) {
    ARROW_RETURN_NOT_OK(duckdb->Run("SET extension_directory = '" + in_root + "'"));
  }
  return duckdb->Run("LOAD quack");
}

}  // namespace

arrow::Status BenchQuack(const BenchOptions& options, const std::string& db_path) {
  std::printf("\n| rows | 5 columns, same Arrow table, same run | quack | Arrowport Flight | "
              "Arrowport vs quack |\n|---:|---|---:|---:|---:|\n");
  for (int64_t rows : options.rows) {
    ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, false));
    // quack: a DuckDB serving its file database, and a DuckDB client attached to it, both
    // DuckDB alone (no code of ours), in this process like the Arrowport server below.
    const std::string quack_path = db_path + ".quack";
    RemoveDatabaseFiles(quack_path);
    ARROW_ASSIGN_OR_RAISE(auto quack_server, DuckDBOnly::Open(quack_path, 0, true));
    // quack picks no port of its own.
    const int port = test_support::FreeLoopbackPort();
    if (port == 0) return arrow::Status::IOError("no free loopback port for quack");
    const std::string uri = "quack:127.0.0.1:" + std::to_string(port);
    ARROW_RETURN_NOT_OK(LoadQuack(quack_server.get()));
    ARROW_RETURN_NOT_OK(quack_server->Run("CALL quack_serve('" + uri +
                                          "', disable_ssl := true, token := '" + kQuackToken +
                                          "')"));
    ARROW_ASSIGN_OR_RAISE(auto quack_client, DuckDBOnly::Open(":memory:", 0, true));
    ARROW_RETURN_NOT_OK(LoadQuack(quack_client.get()));
    ARROW_RETURN_NOT_OK(quack_client->Run("ATTACH '" + uri +
                                          "' AS remote (TYPE quack, DISABLE_SSL true, TOKEN '" +
                                          kQuackToken + "')"));
    ARROW_ASSIGN_OR_RAISE(auto srv, StartBenchServer(db_path));
    ARROW_ASSIGN_OR_RAISE(auto flight, FlightConnection::Connect(srv->flight_uri()));
    auto table_reader = [&] { return std::make_shared<arrow::TableBatchReader>(table); };
    // Rounds alternate the two so that the machine's noise falls on both.
    double quack_push = 1e300, quack_pull = 1e300, ours_push = 1e300, ours_pull = 1e300;
    for (int round = 0; round < options.repeat; ++round) {
      ARROW_ASSIGN_OR_RAISE(const double qp, BestSeconds(1, rows, [&] {
        return quack_client->CreateTableAs("remote.bench", table_reader());
      }));
      ARROW_ASSIGN_OR_RAISE(const double op, BestSeconds(1, rows, [&]() -> arrow::Result<int64_t> {
        ARROW_RETURN_NOT_OK(
            flight->Put(R"({"stream": "bench", "mode": "replace"})", table_reader()).status());
        return rows;
      }));
      ARROW_ASSIGN_OR_RAISE(const double ql, BestSeconds(1, rows, [&] {
        return quack_client->ExportArrow("SELECT * FROM remote.bench", options.batch_rows);
      }));
      ARROW_ASSIGN_OR_RAISE(const double ol, BestSeconds(1, rows, [&]() -> arrow::Result<int64_t> {
        ARROW_ASSIGN_OR_RAISE(auto reader, flight->Get(R"({"table": "bench"})"));
        return Drain(reader.get());
      }));
      quack_push = std::min(quack_push, qp);
      ours_push = std::min(ours_push, op);
      quack_pull = std::min(quack_pull, ql);
      ours_pull = std::min(ours_pull, ol);
    }
    flight.reset();
    ARROW_RETURN_NOT_OK(srv->Shutdown());
    quack_client.reset();
    quack_server.reset();
    RemoveDatabaseFiles(quack_path);
    std::printf("| %lld | push: quack CTAS into the server's file vs Flight DoPut | %.2f M | "
                "%.2f M | %.2f x |\n",
                static_cast<long long>(rows), rows / quack_push / 1e6, rows / ours_push / 1e6,
                quack_push / ours_push);
    std::printf("| %lld | pull: quack SELECT * into Arrow vs Flight DoGet | %.2f M | %.2f M | "
                "%.2f x |\n",
                static_cast<long long>(rows), rows / quack_pull / 1e6, rows / ours_pull / 1e6,
                quack_pull / ours_pull);
    std::fflush(stdout);
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::bench
