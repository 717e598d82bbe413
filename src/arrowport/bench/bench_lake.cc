// arrowport bench --only lake: Flight DoPut into a Delta Lake table in a directory and on
// S3 (MinIO on loopback), beside delta-rs writing the same Arrow table to the same stores
// and DuckDB's own COPY ... TO Parquet of it, in one run.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrow/io/file.h"
#include "arrow/ipc/writer.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrowport/bench/duckdb_ceilings.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/generate.h"
#include "arrowport/lake/lake_table.h"
#include "arrowport/test_support/minio_server.h"

extern char** environ;

namespace arrowport::bench {

namespace {

namespace fs = std::filesystem;

constexpr char kUser[] = "arrowport-bench";
constexpr char kSecret[] = "arrowport-bench-secret-5c1d";
constexpr char kBucket[] = "bench";

// delta-rs's `write_deltalake(mode="append")` of the table in an Arrow IPC file, timed
// inside Python from a table already in memory, after a warm-up write of a few rows to
// another table of the same store (interpreter start, file read and delta-rs's one-time
// set-up left out: a fresh process's first write was ~30% slower). Then the rows its log
// holds. S3 settings come from the AWS_* environment.
constexpr char kDeltaRsScript[] = R"(import json, os, sys, time
import pyarrow as pa, pyarrow.ipc as ipc
import deltalake
source, url = sys.argv[1], sys.argv[2]
with pa.OSFile(source) as f:
    table = ipc.open_file(f).read_all()
options = None
if url.startswith("s3://"):
    options = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
properties = deltalake.WriterProperties(compression="ZSTD")
deltalake.write_deltalake(url + "_warmup", table.slice(0, 1000), mode="append",
                          storage_options=options, writer_properties=properties)
start = time.perf_counter()
deltalake.write_deltalake(url, table, mode="append", storage_options=options,
                          writer_properties=properties)
seconds = time.perf_counter() - start
added = deltalake.DeltaTable(url, storage_options=options).get_add_actions(flatten=True)
print(json.dumps({"seconds": seconds, "rows": sum(added.column("num_records").to_pylist()),
                  "version": deltalake.__version__}))
)";

struct ChildResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs `argv` with `extra_env` added to ours; its output is kept in files under `dir`.
arrow::Result<ChildResult> RunChild(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& extra_env,
                                    const fs::path& dir) {
  const std::string out_path = (dir / "child.out").string();
  const std::string err_path = (dir / "child.err").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<std::string> env(extra_env);
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  std::vector<char*> envp, args;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy(argv);
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return arrow::Status::IOError("cannot run ", argv[0], ": ", std::strerror(spawned));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ChildResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  return result;
}

// The interpreter for the delta-rs peer: --python, else the test suite's virtualenv in
// the working directory (./bin/test installs deltalake there), else python3 on PATH.
std::string PeerPython(const BenchOptions& options) {
  if (!options.python.empty()) return options.python;
  if (::access(".venv/bin/python", X_OK) == 0) return fs::absolute(".venv/bin/python").string();
  return "python3";
}

config::StreamConfig LakeStream(const std::string& url) {
  config::StreamConfig stream;
  stream.sink = config::Sink::kLake;
  stream.commit = config::CommitMode::kPerRequest;
  stream.lake.url = url;
  stream.lake.compression = "zstd";
  // No compaction during the run; other nodes' commits polled rarely (the run's own
  // node reads its own commits regardless).
  stream.lake.compaction_interval_s = 0;
  stream.lake.refresh_ms = 60000;
  return stream;
}

struct Scenario {
  std::string label;
  int64_t rows_per_run = 0;  // rows one run lands (two nodes: twice the table)
  std::function<arrow::Result<double>(int round)> run;  // seconds, or an error
  double best = 1e300;
};

// The rows the latest snapshot of the Delta table at `url` holds, checked.
arrow::Status CheckRows(const std::string& url, int64_t expected,
                        const test_support::MinioServer* minio) {
  ARROW_ASSIGN_OR_RAISE(auto store, objectstore::OpenObjectStore(
                                        url, minio ? minio->Settings() : objectstore::S3Settings{}));
  config::LakeConfig lake;
  lake.url = url;
  lake::LakeTable table(store, lake);
  ARROW_ASSIGN_OR_RAISE(auto snapshot, table.Latest());
  if (snapshot->num_records() != expected) {
    return arrow::Status::Invalid(url, " holds ", snapshot->num_records(), " rows, expected ",
                                  expected);
  }
  return arrow::Status::OK();
}

// The Markdown table: each measured scenario in `order` with its rate and ratios.
void PrintLakeTable(const std::map<std::string, Scenario>& scenarios,
                    const std::vector<std::string>& order, int64_t rows, int repeat,
                    double bytes_per_row) {
  auto has = [&](const std::string& key) { return scenarios.count(key) > 0; };
  auto rate = [&](const std::string& key) {
    const auto& s = scenarios.at(key);
    return static_cast<double>(s.rows_per_run) / s.best;
  };
  std::printf("\n| lake ingest, %lld rows x 5 columns, best of %d | rows/s | MB/s | ratio |\n"
              "|---|---:|---:|---|\n",
              static_cast<long long>(rows), repeat);
  for (const auto& key : order) {
    if (!has(key)) continue;
    std::string ratio;
    char text[96];
    if (key == "ours_local" || key == "ours_s3") {
      const std::string peer = key == "ours_local" ? "deltars_local" : "deltars_s3";
      if (has(peer)) {
        std::snprintf(text, sizeof(text), "%.2f x delta-rs", rate(key) / rate(peer));
        ratio = text;
      }
      if (key == "ours_local") {
        std::snprintf(text, sizeof(text), "%s%.2f x DuckDB COPY", ratio.empty() ? "" : "; ",
                      rate(key) / rate("copy"));
        ratio += text;
      }
    } else if (key == "pair_local" || key == "pair_s3") {
      std::snprintf(text, sizeof(text), "%.2f x one node",
                    rate(key) / rate(key == "pair_local" ? "ours_local" : "ours_s3"));
      ratio = text;
    }
    std::printf("| %s | %.2f M | %.0f | %s |\n", scenarios.at(key).label.c_str(),
                rate(key) / 1e6, rate(key) * bytes_per_row / 1e6, ratio.c_str());
  }
}

}  // namespace

arrow::Status BenchLake(const BenchOptions& options, const std::string& db_path) {
  const fs::path dir = fs::path(db_path).parent_path() / "lake-bench";
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  fs::create_directories(dir);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{dir};
  std::unique_ptr<test_support::MinioServer> minio;
  std::string no_s3;
  if (const std::string binary = test_support::MinioServer::FindBinary(); binary.empty()) {
    no_s3 = "no MinIO binary (./bin/test installs one; or set ARROWPORT_MINIO)";
  } else {
    ARROW_ASSIGN_OR_RAISE(minio, test_support::MinioServer::Start(binary, kUser, kSecret,
                                                                 kBucket));
  }
  const std::string python = PeerPython(options);
  std::string no_deltars;
  {
    auto probe = RunChild({python, "-c", "import deltalake, pyarrow"}, {}, dir);
    if (!probe.ok() || probe->exit_code != 0) {
      no_deltars = "no Python with deltalake and pyarrow at '" + python +
                   "' (./bin/test installs them in .venv; or pass --python)";
    }
  }
  std::vector<std::string> aws_env;
  if (minio) {
    aws_env = {"AWS_ENDPOINT_URL=" + minio->endpoint(), std::string("AWS_ACCESS_KEY_ID=") + kUser,
               std::string("AWS_SECRET_ACCESS_KEY=") + kSecret, "AWS_REGION=us-east-1",
               "AWS_ALLOW_HTTP=true"};
  }

  for (int64_t rows : options.rows) {
    ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, false));
    const std::string ipc_path = (dir / "table.arrow").string();
    {
      ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::FileOutputStream::Open(ipc_path));
      ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeFileWriter(file, table->schema()));
      ARROW_RETURN_NOT_OK(writer->WriteTable(*table));
      ARROW_RETURN_NOT_OK(writer->Close());
      ARROW_RETURN_NOT_OK(file->Close());
    }
    // Two nodes configured alike: every round's streams, each a fresh table.
    const std::string local_root =
        "file://" + fs::absolute(dir / ("r" + std::to_string(rows))).string();
    const std::string s3_root = std::string("s3://") + kBucket + "/r" + std::to_string(rows);
    auto setup_of = [&](const std::string& path, const std::string& path_tag) {
      server::ServerSetup setup = BenchServerSetup(path);
      if (minio) {
        setup.config.s3.endpoint = minio->endpoint();
        setup.config.s3.access_key_id = kUser;
        setup.config.s3.secret_access_key = kSecret;
      }
      setup.config.streams["warmup_local"] = LakeStream(local_root + "/warmup_" + path_tag);
      if (minio) setup.config.streams["warmup_s3"] = LakeStream(s3_root + "/warmup_" + path_tag);
      for (int r = 0; r < options.repeat; ++r) {
        const std::string n = std::to_string(r);
        setup.config.streams["local_" + n] = LakeStream(local_root + "/one_" + n);
        setup.config.streams["pair_local_" + n] = LakeStream(local_root + "/pair_" + n);
        if (minio) {
          setup.config.streams["s3_" + n] = LakeStream(s3_root + "/one_" + n);
          setup.config.streams["pair_s3_" + n] = LakeStream(s3_root + "/pair_" + n);
        }
      }
      return setup;
    };
    ARROW_ASSIGN_OR_RAISE(auto node_a, server::Server::Start(setup_of(db_path, "a")));
    ARROW_ASSIGN_OR_RAISE(auto node_b, server::Server::Start(setup_of(db_path + ".b", "b")));
    ARROW_ASSIGN_OR_RAISE(auto client_a, FlightConnection::Connect(node_a->flight_uri()));
    ARROW_ASSIGN_OR_RAISE(auto client_b, FlightConnection::Connect(node_b->flight_uri()));
    auto put = [&](FlightConnection* client, const std::string& stream) -> arrow::Status {
      return client->Put(R"({"stream": ")" + stream + "\"}",
                         std::make_shared<arrow::TableBatchReader>(table))
          .status();
    };
    // A first small write per node and store, untimed, as the peer's warm-up is: the
    // first request of a process sets up connections, thread pools and the table.
    for (auto* client : {client_a.get(), client_b.get()}) {
      for (const char* stream : {"warmup_local", "warmup_s3"}) {
        if (!minio && std::string(stream) == "warmup_s3") continue;
        ARROW_RETURN_NOT_OK(client->Put(R"({"stream": ")" + std::string(stream) + "\"}",
                                        std::make_shared<arrow::TableBatchReader>(
                                            table->Slice(0, std::min<int64_t>(rows, 1000))))
                                .status());
      }
    }
    auto timed = [](const std::function<arrow::Status()>& run) { return SecondsOf(run); };
    auto both = [&](const std::string& stream) -> arrow::Result<double> {
      return timed([&]() -> arrow::Status {
        arrow::Status a_status, b_status;
        std::thread b([&] { b_status = put(client_b.get(), stream); });
        a_status = put(client_a.get(), stream);
        b.join();
        ARROW_RETURN_NOT_OK(a_status);
        return b_status;
      });
    };
    auto deltars = [&](const std::string& url, bool s3) -> arrow::Result<double> {
      ARROW_ASSIGN_OR_RAISE(auto child, RunChild({python, "-c", kDeltaRsScript, ipc_path, url},
                                                 s3 ? aws_env : std::vector<std::string>{},
                                                 dir));
      if (child.exit_code != 0) {
        return arrow::Status::IOError("delta-rs peer failed (", child.exit_code, "): ",
                                      child.err.substr(0, 2000));
      }
      auto reply = nlohmann::json::parse(child.out, nullptr, false);
      if (reply.is_discarded() || reply.value("rows", int64_t{-1}) != rows) {
        return arrow::Status::IOError("delta-rs peer: unexpected reply ", child.out);
      }
      return reply["seconds"].get<double>();
    };
    std::map<std::string, Scenario> scenarios;
    // DuckDB alone, though in this process: the servers' allocation accounting
    // (storage/allocation_guard.h) is installed by now, an atomic add per DuckDB allocation.
    scenarios["copy"] = {"ceiling: DuckDB COPY TO Parquet (zstd), local disk, in process", rows,
                         [&](int r) -> arrow::Result<double> {
                           ARROW_ASSIGN_OR_RAISE(auto duckdb,
                                                 DuckDBOnly::Open(":memory:", 0));
                           const std::string path =
                               (dir / ("copy_" + std::to_string(r) + ".parquet")).string();
                           return timed([&] {
                             return duckdb->CopyToParquet(
                                 std::make_shared<arrow::TableBatchReader>(table), path, "zstd");
                           });
                         }};
    if (no_deltars.empty()) {
      scenarios["deltars_local"] = {
          "peer: delta-rs write_deltalake append (zstd), local dir, in its process", rows,
          [&](int r) { return deltars(local_root + "/deltars_" + std::to_string(r), false); }};
      if (minio) {
        scenarios["deltars_s3"] = {
            "peer: delta-rs write_deltalake append (zstd), S3 (MinIO), in its process", rows,
            [&](int r) { return deltars(s3_root + "/deltars_" + std::to_string(r), true); }};
      }
    }
    scenarios["ours_local"] = {"Arrowport Flight DoPut -> lake, local dir (end to end)", rows,
                               [&](int r) {
                                 return timed([&] {
                                   return put(client_a.get(), "local_" + std::to_string(r));
                                 });
                               }};
    scenarios["pair_local"] = {
        "two Arrowport nodes at once -> one lake, local dir (aggregate)", 2 * rows,
        [&](int r) { return both("pair_local_" + std::to_string(r)); }};
    if (minio) {
      scenarios["ours_s3"] = {"Arrowport Flight DoPut -> lake, S3 (MinIO) (end to end)", rows,
                              [&](int r) {
                                return timed([&] {
                                  return put(client_a.get(), "s3_" + std::to_string(r));
                                });
                              }};
      scenarios["pair_s3"] = {"two Arrowport nodes at once -> one lake, S3 (MinIO) (aggregate)",
                              2 * rows, [&](int r) { return both("pair_s3_" + std::to_string(r)); }};
    }
    const std::vector<std::string> order = {"copy",     "deltars_local", "deltars_s3", "ours_local",
                                            "ours_s3",  "pair_local",    "pair_s3"};
    // Rounds run every scenario once, interleaved, so that the machine's good and bad
    // spells fall on all of them alike.
    for (int r = 0; r < options.repeat; ++r) {
      for (const auto& key : order) {
        auto it = scenarios.find(key);
        if (it == scenarios.end()) continue;
        ARROW_ASSIGN_OR_RAISE(const double seconds, it->second.run(r));
        it->second.best = std::min(it->second.best, seconds);
      }
    }
    // What landed: every lake the servers wrote holds every row once.
    for (int r = 0; r < options.repeat; ++r) {
      const std::string n = std::to_string(r);
      ARROW_RETURN_NOT_OK(CheckRows(local_root + "/one_" + n, rows, minio.get()));
      ARROW_RETURN_NOT_OK(CheckRows(local_root + "/pair_" + n, 2 * rows, minio.get()));
      if (minio) {
        ARROW_RETURN_NOT_OK(CheckRows(s3_root + "/one_" + n, rows, minio.get()));
        ARROW_RETURN_NOT_OK(CheckRows(s3_root + "/pair_" + n, 2 * rows, minio.get()));
      }
    }
    client_a.reset();
    client_b.reset();
    ARROW_RETURN_NOT_OK(node_a->Shutdown());
    ARROW_RETURN_NOT_OK(node_b->Shutdown());
    RemoveDatabaseFiles(db_path + ".b");

    PrintLakeTable(scenarios, order, rows, options.repeat,
                   static_cast<double>(arrow::util::TotalBufferSize(*table)) /
                       static_cast<double>(rows));
    if (!no_s3.empty()) std::printf("\nS3 not measured: %s.\n", no_s3.c_str());
    if (!no_deltars.empty()) std::printf("\ndelta-rs not measured: %s.\n", no_deltars.c_str());
    std::fflush(stdout);
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::bench
