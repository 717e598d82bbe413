// arrowport bench --only backup: our online backup of a database of `rows` rows beside
// DuckDB's own copies of the same file (COPY FROM DATABASE into a new attached file,
// EXPORT DATABASE to Parquet), and a producer's ingest rate while a backup runs against
// its rate without one, all in the same run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <system_error>

#include "arrow/table.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_servers.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/bench/child_process.h"
#include "arrowport/bench/duckdb_ceilings.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/generate.h"

namespace arrowport::bench {

namespace {

using Clock = std::chrono::steady_clock;

// A producer's request: 100,000 rows of the bench's schema.
constexpr int64_t kProducerRows = 100'000;

int64_t DirectoryBytes(const std::filesystem::path& dir) {
  int64_t bytes = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, error)) {
    if (entry.is_regular_file(error)) bytes += static_cast<int64_t>(entry.file_size(error));
  }
  return bytes;
}

// The producer's requests, one after another, while `more` says so; returns the rows
// per second of the requests acknowledged.
arrow::Result<double> Produce(const std::string& uri, const std::shared_ptr<arrow::Table>& batch,
                              const std::function<bool()>& more) {
  ARROW_ASSIGN_OR_RAISE(auto producer, FlightConnection::Connect(uri));
  int64_t rows = 0;
  const auto start = Clock::now();
  auto last = start;
  while (more()) {
    auto reader = std::make_shared<arrow::TableBatchReader>(batch);
    ARROW_RETURN_NOT_OK(producer->Put(R"({"stream": "side"})", reader).status());
    rows += batch->num_rows();
    last = Clock::now();
  }
  const double seconds = std::chrono::duration<double>(last - start).count();
  return seconds > 0 ? rows / seconds : 0;
}

struct OursMeasured {
  Timing backup;           ///< alone
  double backup_loaded_s;  ///< with the producer pushing
  int64_t file_bytes = 0;  ///< the database file, checkpointed
  int64_t backup_bytes = 0;
  double ingest_alone = 0;   ///< the producer's rows/s, no backup running
  double ingest_backup = 0;  ///< the same while a backup runs
};

arrow::Result<OursMeasured> MeasureOurs(const BenchOptions& options, int64_t rows,
                                        const std::string& db_path,
                                        const std::filesystem::path& dir) {
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, false));
  ARROW_ASSIGN_OR_RAISE(auto srv, ServerChild::StartOurs(options, {db_path, false, true, 0}));
  ARROW_ASSIGN_OR_RAISE(auto flight, FlightConnection::Connect(srv->flight_uri()));
  ARROW_RETURN_NOT_OK(flight
                          ->Put(R"({"stream": "bench", "mode": "replace"})",
                                std::make_shared<arrow::TableBatchReader>(table))
                          .status());
  table.reset();
  ARROW_RETURN_NOT_OK(flight->Action("checkpoint").status());
  OursMeasured out;
  out.file_bytes = static_cast<int64_t>(std::filesystem::file_size(db_path));
  int run = 0;
  auto backup_to = [&](const std::string& name) -> arrow::Result<int64_t> {
    const auto to = dir / name;
    ARROW_RETURN_NOT_OK(
        flight->Action("backup", R"({"to": ")" + to.string() + R"("})").status());
    out.backup_bytes = DirectoryBytes(to);
    return rows;
  };
  LetWritesLand();
  ARROW_ASSIGN_OR_RAISE(out.backup, BestRun(options.repeat, rows,
                                            [&] { return srv->CpuSeconds(); },
                                            [&] { return backup_to("ours" + std::to_string(run++)); }));
  // The producer alone for as long as a backup takes, then again while one runs.
  ARROW_ASSIGN_OR_RAISE(auto side, MakeBenchTable(kProducerRows, options.batch_rows, false));
  LetWritesLand();
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(
                                            std::max(out.backup.seconds, 2.0)));
  ARROW_ASSIGN_OR_RAISE(out.ingest_alone, Produce(srv->flight_uri(), side,
                                                  [&] { return Clock::now() < until; }));
  LetWritesLand();
  std::atomic<bool> backing_up{true};
  auto backup = std::async(std::launch::async, [&]() -> arrow::Result<double> {
    ARROW_ASSIGN_OR_RAISE(auto own, FlightConnection::Connect(srv->flight_uri()));
    const auto start = Clock::now();
    auto done = own->Action("backup", R"({"to": ")" + (dir / "loaded").string() + R"("})");
    backing_up = false;
    ARROW_RETURN_NOT_OK(done.status());
    return std::chrono::duration<double>(Clock::now() - start).count();
  });
  auto produced = Produce(srv->flight_uri(), side, [&] { return backing_up.load(); });
  ARROW_ASSIGN_OR_RAISE(out.backup_loaded_s, backup.get());
  ARROW_ASSIGN_OR_RAISE(out.ingest_backup, std::move(produced));
  flight.reset();
  ARROW_RETURN_NOT_OK(srv->Stop());
  return out;
}

// DuckDB alone on the file our server left (closed, checkpointed): its own copies.
arrow::Result<std::pair<Timing, Timing>> MeasureDuckDB(const BenchOptions& options,
                                                       int64_t rows, const std::string& db_path,
                                                       const std::filesystem::path& dir) {
  ARROW_ASSIGN_OR_RAISE(auto duckdb, DuckDBOnly::Open(":memory:", 0));
  ARROW_RETURN_NOT_OK(duckdb->Run("ATTACH '" + db_path + "' AS src (READ_ONLY)"));
  int run = 0;
  ARROW_ASSIGN_OR_RAISE(
      auto copy, BestRun(options.repeat, rows, SelfCpuSeconds, [&]() -> arrow::Result<int64_t> {
        const std::string target = (dir / ("copy" + std::to_string(run++) + ".duckdb")).string();
        ARROW_RETURN_NOT_OK(duckdb->Run("ATTACH '" + target + "' AS dst"));
        ARROW_RETURN_NOT_OK(duckdb->Run("COPY FROM DATABASE src TO dst"));
        ARROW_RETURN_NOT_OK(duckdb->Run("DETACH dst"));  // its checkpoint and close
        return rows;
      }));
  ARROW_ASSIGN_OR_RAISE(
      auto exported, BestRun(options.repeat, rows, SelfCpuSeconds, [&]() -> arrow::Result<int64_t> {
        const std::string target = (dir / ("export" + std::to_string(run++))).string();
        ARROW_RETURN_NOT_OK(
            duckdb->Run("EXPORT DATABASE src TO '" + target + "' (FORMAT parquet)"));
        return rows;
      }));
  return std::make_pair(copy, exported);
}

}  // namespace

arrow::Status BenchBackup(const BenchOptions& options, const std::string& db_path) {
  // Ratios as elsewhere: ours over the ceiling's rate (higher is better), and its CPU
  // over ours (lower is better for us).
  std::printf("\n| rows | database file | backup of the same file, same run | seconds | CPU s | "
              "MB/s | ours vs it | CPU ours/it |\n|---:|---:|---|---:|---:|---:|---:|---:|\n");
  for (int64_t rows : options.rows) {
    const std::filesystem::path dir = db_path + ".backups";
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    std::filesystem::create_directories(dir);
    ARROW_ASSIGN_OR_RAISE(auto ours, MeasureOurs(options, rows, db_path, dir));
    std::filesystem::remove_all(dir, ignored);
    std::filesystem::create_directories(dir);
    LetWritesLand();
    ARROW_ASSIGN_OR_RAISE(auto alone, MeasureDuckDB(options, rows, db_path, dir));
    std::filesystem::remove_all(dir, ignored);
    const double mb = ours.file_bytes / 1e6;
    auto line = [&](const char* what, const Timing& t) {
      std::printf("| %lld | %.0f MB | %s | %.2f | %.2f | %.0f | %.2f x | %.2f x |\n",
                  static_cast<long long>(rows), mb, what, t.seconds, t.cpu_seconds,
                  mb / t.seconds, t.seconds / ours.backup.seconds,
                  t.cpu_seconds > 0 ? ours.backup.cpu_seconds / t.cpu_seconds : 0);
    };
    line("ours: backup action (checkpoint, copy, tables' checksums, upload with SHA-256), "
         "server CPU",
         ours.backup);
    line("ceiling: DuckDB COPY FROM DATABASE into a new attached file (+ DETACH), DuckDB alone",
         alone.first);
    line("ceiling: DuckDB EXPORT DATABASE (FORMAT parquet), DuckDB alone", alone.second);
    std::printf("| %lld | %.0f MB | ours while a producer pushes (%lld-row DoPuts) | %.2f | | "
                "%.0f | %.2f x | |\n",
                static_cast<long long>(rows), mb, static_cast<long long>(kProducerRows),
                ours.backup_loaded_s, mb / ours.backup_loaded_s,
                ours.backup.seconds / ours.backup_loaded_s);
    std::printf("\n| rows | producer's ingest (Flight DoPut, %lld rows a request) | rows/s | "
                "vs without a backup |\n|---:|---|---:|---:|\n| %lld | without a backup | "
                "%.2f M | 1.00 x |\n| %lld | while a backup runs | %.2f M | %.2f x |\n",
                static_cast<long long>(kProducerRows), static_cast<long long>(rows),
                ours.ingest_alone / 1e6, static_cast<long long>(rows),
                ours.ingest_backup / 1e6,
                ours.ingest_alone > 0 ? ours.ingest_backup / ours.ingest_alone : 0);
    std::printf("(backup folder %.0f MB: database.duckdb and manifest.json)\n",
                ours.backup_bytes / 1e6);
    std::fflush(stdout);
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::bench
