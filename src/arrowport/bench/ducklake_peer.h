#pragma once

// The DuckLake peer of `arrowport bench --only lake` (bench_lake.cc): DuckDB 1.5.5 with
// its ducklake extension (the PyPI packages tests/e2e/ducklake_peers.py loads) writing the
// same Arrow table into a DuckLake of its own with a SQLite catalog, in a Python process;
// the same DuckDB reads every lake back afterwards.

#include <filesystem>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/bench/peer_process.h"

namespace arrowport::bench {

/// Whether `python` imports duckdb, pyarrow and the ducklake and sqlite extension packages
/// (its output kept under `dir`).
bool HasDuckLakePeer(const std::string& python, const std::filesystem::path& dir);

/// What DuckDB's `INSERT INTO lk.t SELECT * FROM` the Arrow IPC file `ipc_path` took into
/// a new DuckLake at `lake_dir` (catalog `lake_dir`/catalog.sqlite, data `lake_dir`/data/,
/// Parquet zstd; the empty table made untimed, after a warm-up insert into another table
/// of the lake), timed inside Python; the table checked to hold `rows` rows.
arrow::Result<PeerTiming> DuckLakeInsert(const std::string& python, const std::string& ipc_path,
                                         const std::string& lake_dir,
                                         const std::filesystem::path& dir, int64_t rows);

/// Checks with DuckDB 1.5.5's ducklake reader that table main.t of every lake in
/// `lake_dirs` (laid out as above) holds the rows of `ipc_path`: the same count, and the
/// same sums of id, of the names' lengths, of the timestamps and of the true flags.
arrow::Status CheckDuckLakes(const std::string& python, const std::string& ipc_path,
                             const std::vector<std::string>& lake_dirs,
                             const std::filesystem::path& dir);

}  // namespace arrowport::bench
