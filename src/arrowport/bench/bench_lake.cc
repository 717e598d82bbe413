// arrowport bench --only lake: Flight DoPut into a Delta Lake table in a directory and on
// S3 (MinIO on loopback), beside delta-rs writing the same Arrow table to the same stores
// (delta_rs_peer.h) and DuckDB's own COPY ... TO Parquet of it; and into a DuckLake with a
// SQLite catalog beside DuckDB 1.5.5's ducklake inserting the same table into one
// (ducklake_peer.h); in one run.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "arrow/io/file.h"
#include "arrow/ipc/writer.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_lake.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/bench/delta_rs_peer.h"
#include "arrowport/bench/duckdb_ceilings.h"
#include "arrowport/bench/ducklake_peer.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/generate.h"
#include "arrowport/config/lake_section.h"
#include "arrowport/lake/ducklake_log.h"
#include "arrowport/lake/lake_table.h"
#include "arrowport/objectstore/open_store.h"
#include "arrowport/test_support/minio_server.h"

namespace arrowport::bench {

namespace {

namespace fs = std::filesystem;

constexpr char kUser[] = "arrowport-bench";
constexpr char kSecret[] = "arrowport-bench-secret-5c1d";
constexpr char kBucket[] = "bench";

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

// A DuckLake stream: table main.t of the lake at `lake_dir` (catalog
// `lake_dir`/catalog.sqlite, data under `lake_dir`/data/, as ducklake_peer.h lays its
// lakes out), otherwise set up as the Delta streams are.
arrow::Result<config::StreamConfig> DuckLakeStream(const std::string& lake_dir) {
  config::StreamConfig stream = LakeStream("");
  stream.lake.format = config::LakeFormat::kDuckLake;
  stream.lake.catalog = "sqlite:" + lake_dir + "/catalog.sqlite";
  stream.lake.data_path = lake_dir + "/data/";
  stream.lake.schema = "main";
  ARROW_RETURN_NOT_OK(config::FinishDuckLake("ducklake", "bench", "t", &stream.lake));
  return stream;
}

// The rows the latest snapshot of the lake table `lake` holds (its Delta log or its
// DuckLake catalog), checked.
arrow::Status CheckRows(const config::LakeConfig& lake, int64_t expected,
                        const test_support::MinioServer* minio) {
  ARROW_ASSIGN_OR_RAISE(auto store,
                        objectstore::OpenObjectStore(
                            lake.url, minio ? minio->Settings() : objectstore::S3Settings{}));
  std::unique_ptr<lake::TableLog> log;
  if (lake.format == config::LakeFormat::kDuckLake) {
    log = std::make_unique<lake::DuckLakeLog>(
        lake::DuckLakeTableName{lake.catalog, lake.data_path, lake.schema, lake.table});
  }
  lake::LakeTable table(store, lake, nullptr, nullptr, std::move(log));
  ARROW_ASSIGN_OR_RAISE(auto snapshot, table.Latest());
  if (snapshot->num_records() != expected) {
    return arrow::Status::Invalid(lake.url, " holds ", snapshot->num_records(),
                                  " rows, expected ", expected);
  }
  return arrow::Status::OK();
}

arrow::Status CheckRows(const std::string& url, int64_t expected,
                        const test_support::MinioServer* minio) {
  config::LakeConfig lake;
  lake.url = url;
  return CheckRows(lake, expected, minio);
}

// What a lake bench run has beside the servers: MinIO (when its binary is found) and the
// delta-rs peer (when Python has it); each one missing says why.
struct LakePeers {
  std::unique_ptr<test_support::MinioServer> minio;
  std::string no_s3;
  std::string python;
  std::string no_deltars;
  std::string no_ducklake;
  std::vector<std::string> aws_env;  // the delta-rs peer's settings for MinIO
};

arrow::Result<LakePeers> StartPeers(const BenchOptions& options, const fs::path& dir) {
  LakePeers peers;
  if (const std::string binary = test_support::MinioServer::FindBinary(); binary.empty()) {
    peers.no_s3 = "no MinIO binary (./bin/test installs one; or set ARROWPORT_MINIO)";
  } else {
    ARROW_ASSIGN_OR_RAISE(peers.minio, test_support::MinioServer::Start(binary, kUser, kSecret,
                                                                       kBucket));
  }
  peers.python = PeerPython(options);
  if (!HasDeltaRs(peers.python, dir)) {
    peers.no_deltars = "no Python with deltalake and pyarrow at '" + peers.python +
                       "' (./bin/test installs them in .venv; or pass --python)";
  }
  if (!HasDuckLakePeer(peers.python, dir)) {
    peers.no_ducklake = "no Python with duckdb, pyarrow, duckdb_extension_ducklake and "
                        "duckdb_extension_sqlite at '" + peers.python +
                        "' (./bin/test installs them in .venv; or pass --python)";
  }
  if (peers.minio) {
    peers.aws_env = {"AWS_ENDPOINT_URL=" + peers.minio->endpoint(),
                     std::string("AWS_ACCESS_KEY_ID=") + kUser,
                     std::string("AWS_SECRET_ACCESS_KEY=") + kSecret, "AWS_REGION=us-east-1",
                     "AWS_ALLOW_HTTP=true"};
  }
  return peers;
}

// One size's run: the table, its IPC file for the peer, the lakes' roots and two nodes
// configured alike (every round's streams, each a fresh table).
struct LakeRun {
  const BenchOptions* options = nullptr;
  const LakePeers* peers = nullptr;
  fs::path dir;
  int64_t rows = 0;
  std::shared_ptr<arrow::Table> table;
  std::string ipc_path;
  std::string local_root;
  std::string s3_root;
  std::string ducklake_root;  // a directory: every DuckLake of this size in a folder of it
  std::unique_ptr<FlightConnection> client_a, client_b;

  std::string DuckLakeDir(const std::string& name) const { return ducklake_root + "/" + name; }

  // `path_tag` "a": the node the one-node scenarios write through, the only one with
  // DuckLake streams (a SQLite catalog is for one node).
  arrow::Result<server::ServerSetup> NodeSetup(const std::string& path,
                                               const std::string& path_tag) const {
    server::ServerSetup setup = BenchServerSetup(path);
    const auto* minio = peers->minio.get();
    if (minio) {
      setup.config.s3.endpoint = minio->endpoint();
      setup.config.s3.access_key_id = kUser;
      setup.config.s3.secret_access_key = kSecret;
    }
    setup.config.streams["warmup_local"] = LakeStream(local_root + "/warmup_" + path_tag);
    if (minio) setup.config.streams["warmup_s3"] = LakeStream(s3_root + "/warmup_" + path_tag);
    const bool ducklake = path_tag == "a";
    if (ducklake) {
      ARROW_ASSIGN_OR_RAISE(setup.config.streams["warmup_ducklake"],
                            DuckLakeStream(DuckLakeDir("warmup")));
    }
    for (int r = 0; r < options->repeat; ++r) {
      const std::string n = std::to_string(r);
      if (ducklake) {
        ARROW_ASSIGN_OR_RAISE(setup.config.streams["ducklake_" + n],
                              DuckLakeStream(DuckLakeDir("ours_" + n)));
      }
      setup.config.streams["local_" + n] = LakeStream(local_root + "/one_" + n);
      setup.config.streams["pair_local_" + n] = LakeStream(local_root + "/pair_" + n);
      if (minio) {
        setup.config.streams["s3_" + n] = LakeStream(s3_root + "/one_" + n);
        setup.config.streams["pair_s3_" + n] = LakeStream(s3_root + "/pair_" + n);
      }
    }
    return setup;
  }

  // `client_cpu`: adds the CPU seconds the calling thread spent on the request.
  arrow::Status Put(FlightConnection* client, const std::string& stream,
                    double* client_cpu = nullptr) const {
    const double cpu_before = ThreadCpuSeconds();
    auto status = client->Put(R"({"stream": ")" + stream + "\"}",
                              std::make_shared<arrow::TableBatchReader>(table))
                      .status();
    if (client_cpu != nullptr) *client_cpu += ThreadCpuSeconds() - cpu_before;
    return status;
  }

  // A first small write per node and store, untimed, as the peer's warm-up is: the
  // first request of a process sets up connections, thread pools and the table.
  arrow::Status WarmUp() const {
    for (auto* client : {client_a.get(), client_b.get()}) {
      for (const char* stream : {"warmup_local", "warmup_s3", "warmup_ducklake"}) {
        if (!peers->minio && std::string(stream) == "warmup_s3") continue;
        if (client != client_a.get() && std::string(stream) == "warmup_ducklake") continue;
        ARROW_RETURN_NOT_OK(client->Put(R"({"stream": ")" + std::string(stream) + "\"}",
                                        std::make_shared<arrow::TableBatchReader>(
                                            table->Slice(0, std::min<int64_t>(rows, 1000))))
                                .status());
      }
    }
    return arrow::Status::OK();
  }

  // One node writing `stream`: the servers' CPU (the process's, less the client's).
  arrow::Result<Measured> One(const std::string& stream) const {
    return MeasureInProcess(
        [&](double* client_cpu) { return Put(client_a.get(), stream, client_cpu); });
  }

  // Both nodes writing `stream` at once, timed together.
  arrow::Result<Measured> Both(const std::string& stream) const {
    return MeasureInProcess([&](double* client_cpu) -> arrow::Status {
      arrow::Status a_status, b_status;
      double b_cpu = 0;
      std::thread b([&] { b_status = Put(client_b.get(), stream, &b_cpu); });
      a_status = Put(client_a.get(), stream, client_cpu);
      b.join();
      *client_cpu += b_cpu;
      ARROW_RETURN_NOT_OK(a_status);
      return b_status;
    });
  }

  arrow::Result<Measured> DeltaRs(const std::string& url, bool s3) const {
    ARROW_ASSIGN_OR_RAISE(auto timing,
                          DeltaRsAppend(peers->python, ipc_path, url,
                                        s3 ? peers->aws_env : std::vector<std::string>{}, dir,
                                        rows));
    return Measured{timing.seconds, timing.cpu_seconds};
  }

  arrow::Result<Measured> DuckLakePeer(int round) const {
    ARROW_ASSIGN_OR_RAISE(auto timing,
                          DuckLakeInsert(peers->python, ipc_path,
                                         DuckLakeDir("peer_" + std::to_string(round)), dir,
                                         rows));
    return Measured{timing.seconds, timing.cpu_seconds};
  }

  // What landed: every lake the servers wrote holds every row once; with the DuckLake
  // peer, DuckDB 1.5.5 reads ours and its own DuckLakes back: every one holds the rows
  // of the table (count and sums).
  arrow::Status CheckLanded() const {
    const auto* minio = peers->minio.get();
    std::vector<std::string> ducklakes;
    for (int r = 0; r < options->repeat; ++r) {
      const std::string n = std::to_string(r);
      ARROW_ASSIGN_OR_RAISE(auto ducklake, DuckLakeStream(DuckLakeDir("ours_" + n)));
      ARROW_RETURN_NOT_OK(CheckRows(ducklake.lake, rows, minio));
      ducklakes.push_back(DuckLakeDir("ours_" + n));
      if (peers->no_ducklake.empty()) ducklakes.push_back(DuckLakeDir("peer_" + n));
      ARROW_RETURN_NOT_OK(CheckRows(local_root + "/one_" + n, rows, minio));
      ARROW_RETURN_NOT_OK(CheckRows(local_root + "/pair_" + n, 2 * rows, minio));
      if (minio) {
        ARROW_RETURN_NOT_OK(CheckRows(s3_root + "/one_" + n, rows, minio));
        ARROW_RETURN_NOT_OK(CheckRows(s3_root + "/pair_" + n, 2 * rows, minio));
      }
    }
    if (!peers->no_ducklake.empty()) return arrow::Status::OK();
    return CheckDuckLakes(peers->python, ipc_path, ducklakes, dir);
  }
};

// The scenarios one size runs, by key; they refer to `run`, which outlives them.
std::map<std::string, Scenario> LakeScenarios(const LakeRun& run) {
  const int64_t rows = run.rows;
  const bool s3 = run.peers->minio != nullptr;
  std::map<std::string, Scenario> scenarios;
  // DuckDB alone, though in this process: the servers' allocation accounting
  // (storage/memory/allocation_guard.h) is installed by now, an atomic add per DuckDB
  // allocation.
  scenarios["copy"] = {"ceiling: DuckDB COPY TO Parquet (zstd), local disk, in process", rows,
                       [&run](int r) -> arrow::Result<Measured> {
                         ARROW_ASSIGN_OR_RAISE(auto duckdb, DuckDBOnly::Open(":memory:", 0));
                         const std::string path =
                             (run.dir / ("copy_" + std::to_string(r) + ".parquet")).string();
                         return MeasureInProcess([&](double*) {
                           return duckdb->CopyToParquet(
                               std::make_shared<arrow::TableBatchReader>(run.table), path,
                               "zstd");
                         });
                       }};
  if (run.peers->no_deltars.empty()) {
    scenarios["deltars_local"] = {
        "peer: delta-rs write_deltalake append (zstd), local dir, in its process", rows,
        [&run](int r) {
          return run.DeltaRs(run.local_root + "/deltars_" + std::to_string(r), false);
        }};
    if (s3) {
      scenarios["deltars_s3"] = {
          "peer: delta-rs write_deltalake append (zstd), S3 (MinIO), in its process", rows,
          [&run](int r) {
            return run.DeltaRs(run.s3_root + "/deltars_" + std::to_string(r), true);
          }};
    }
  }
  if (run.peers->no_ducklake.empty()) {
    scenarios["ducklake_peer"] = {
        "peer: DuckDB 1.5.5 INSERT INTO ducklake (SQLite catalog, zstd), local dir, in its "
        "process",
        rows, [&run](int r) { return run.DuckLakePeer(r); }};
  }
  scenarios["ours_local"] = {"Arrowport Flight DoPut -> lake, local dir (end to end)", rows,
                             [&run](int r) { return run.One("local_" + std::to_string(r)); }};
  scenarios["ours_ducklake"] = {
      "Arrowport Flight DoPut -> DuckLake (SQLite catalog), local dir (end to end)", rows,
      [&run](int r) { return run.One("ducklake_" + std::to_string(r)); }};
  scenarios["pair_local"] = {
      "two Arrowport nodes at once -> one lake, local dir (aggregate)", 2 * rows,
      [&run](int r) { return run.Both("pair_local_" + std::to_string(r)); }};
  if (s3) {
    scenarios["ours_s3"] = {"Arrowport Flight DoPut -> lake, S3 (MinIO) (end to end)", rows,
                            [&run](int r) { return run.One("s3_" + std::to_string(r)); }};
    scenarios["pair_s3"] = {"two Arrowport nodes at once -> one lake, S3 (MinIO) (aggregate)",
                            2 * rows,
                            [&run](int r) { return run.Both("pair_s3_" + std::to_string(r)); }};
  }
  return scenarios;
}

arrow::Status WriteIpcFile(const arrow::Table& table, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::FileOutputStream::Open(path));
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeFileWriter(file, table.schema()));
  ARROW_RETURN_NOT_OK(writer->WriteTable(table));
  ARROW_RETURN_NOT_OK(writer->Close());
  return file->Close();
}

// One size: two nodes, every scenario `repeat` times, what landed checked, the table.
arrow::Status BenchLakeRows(const BenchOptions& options, const std::string& db_path,
                            const fs::path& dir, const LakePeers& peers, int64_t rows) {
  LakeRun run;
  run.options = &options;
  run.peers = &peers;
  run.dir = dir;
  run.rows = rows;
  ARROW_ASSIGN_OR_RAISE(run.table, MakeBenchTable(rows, options.batch_rows, false));
  run.ipc_path = (dir / "table.arrow").string();
  ARROW_RETURN_NOT_OK(WriteIpcFile(*run.table, run.ipc_path));
  run.local_root = "file://" + fs::absolute(dir / ("r" + std::to_string(rows))).string();
  run.s3_root = std::string("s3://") + kBucket + "/r" + std::to_string(rows);
  run.ducklake_root = fs::absolute(dir / ("ducklake_r" + std::to_string(rows))).string();
  fs::create_directories(run.ducklake_root);
  ARROW_ASSIGN_OR_RAISE(auto setup_a, run.NodeSetup(db_path, "a"));
  ARROW_ASSIGN_OR_RAISE(auto setup_b, run.NodeSetup(db_path + ".b", "b"));
  ARROW_ASSIGN_OR_RAISE(auto node_a, server::Server::Start(setup_a));
  ARROW_ASSIGN_OR_RAISE(auto node_b, server::Server::Start(setup_b));
  // The clients end before the nodes they talk to, on every return.
  struct ClientsFirst {
    LakeRun& run;
    ~ClientsFirst() {
      run.client_a.reset();
      run.client_b.reset();
    }
  } clients_first{run};
  ARROW_ASSIGN_OR_RAISE(run.client_a, FlightConnection::Connect(node_a->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(run.client_b, FlightConnection::Connect(node_b->flight_uri()));
  ARROW_RETURN_NOT_OK(run.WarmUp());
  std::map<std::string, Scenario> scenarios = LakeScenarios(run);
  const std::vector<std::string> order = {
      "copy",    "deltars_local", "deltars_s3", "ducklake_peer", "ours_local",
      "ours_s3", "ours_ducklake", "pair_local", "pair_s3"};
  // Rounds run every scenario once, interleaved, so that the machine's good and bad
  // spells fall on all of them alike.
  for (int r = 0; r < options.repeat; ++r) {
    for (const auto& key : order) {
      auto it = scenarios.find(key);
      if (it == scenarios.end()) continue;
      ARROW_ASSIGN_OR_RAISE(const Measured measured, it->second.run(r));
      if (measured.seconds < it->second.best.seconds) it->second.best = measured;
    }
  }
  ARROW_RETURN_NOT_OK(run.CheckLanded());
  run.client_a.reset();
  run.client_b.reset();
  ARROW_RETURN_NOT_OK(node_a->Shutdown());
  ARROW_RETURN_NOT_OK(node_b->Shutdown());
  RemoveDatabaseFiles(db_path + ".b");

  PrintLakeTable(scenarios, order, rows, options.repeat,
                 static_cast<double>(arrow::util::TotalBufferSize(*run.table)) /
                     static_cast<double>(rows));
  if (!peers.no_s3.empty()) std::printf("\nS3 not measured: %s.\n", peers.no_s3.c_str());
  if (!peers.no_deltars.empty()) {
    std::printf("\ndelta-rs not measured: %s.\n", peers.no_deltars.c_str());
  }
  if (!peers.no_ducklake.empty()) {
    std::printf("\nDuckDB 1.5.5's ducklake not measured: %s.\n", peers.no_ducklake.c_str());
  }
  std::fflush(stdout);
  return arrow::Status::OK();
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
  ARROW_ASSIGN_OR_RAISE(auto peers, StartPeers(options, dir));
  for (int64_t rows : options.rows) {
    ARROW_RETURN_NOT_OK(BenchLakeRows(options, db_path, dir, peers, rows));
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::bench
