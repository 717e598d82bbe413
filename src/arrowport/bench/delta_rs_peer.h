#pragma once

// The delta-rs peer of `arrowport bench --only lake` (bench_lake.cc): delta-rs writing
// the same Arrow table to the same stores, in a Python process of its own.

#include <filesystem>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/bench/peer_process.h"

namespace arrowport::bench {

/// Whether `python` imports deltalake and pyarrow (its output kept under `dir`).
bool HasDeltaRs(const std::string& python, const std::filesystem::path& dir);

/// What delta-rs's `write_deltalake(mode="append")` of the Arrow IPC file `ipc_path` to
/// `url` took (timed inside Python, after a warm-up write), its log checked to hold `rows`
/// rows. `env`: added to ours (the AWS_* settings of an S3 store).
arrow::Result<PeerTiming> DeltaRsAppend(const std::string& python, const std::string& ipc_path,
                                        const std::string& url,
                                        const std::vector<std::string>& env,
                                        const std::filesystem::path& dir, int64_t rows);

}  // namespace arrowport::bench
