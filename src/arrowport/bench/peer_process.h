#pragma once

// The lake bench's peers (delta_rs_peer.h, ducklake_peer.h) run in Python processes of
// their own: how one is started and what it reports.

#include <filesystem>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/bench/bench.h"

namespace arrowport::bench {

/// The interpreter for the lake bench's peers: --python, else the test suite's virtualenv
/// in the working directory (./bin/test installs deltalake and duckdb there), else python3
/// on PATH.
std::string PeerPython(const BenchOptions& options);

/// A child's exit code and output.
struct ChildResult {
  int exit_code = -1;
  std::string out, err;
};

/// Runs `argv` with `extra_env` added to ours, stdin empty; its output is kept in files
/// under `dir` and returned.
arrow::Result<ChildResult> RunChild(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& extra_env,
                                    const std::filesystem::path& dir);

/// What a peer's timed write took, measured inside its process: wall seconds and the CPU
/// seconds of all its threads.
struct PeerTiming {
  double seconds = 0;
  double cpu_seconds = 0;
};

}  // namespace arrowport::bench
