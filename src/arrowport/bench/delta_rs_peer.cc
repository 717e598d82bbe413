// The delta-rs peer of the lake bench (delta_rs_peer.h): a Python child process.
#include "arrowport/bench/delta_rs_peer.h"

#include <nlohmann/json.hpp>

namespace arrowport::bench {

namespace {

namespace fs = std::filesystem;

// delta-rs's `write_deltalake(mode="append")` of the table in an Arrow IPC file, timed
// inside Python from a table already in memory, after a warm-up write of a few rows to
// another table of the same store (interpreter start, file read and delta-rs's one-time
// set-up left out: a fresh process's first write was ~30% slower). Then the rows its log
// holds. S3 settings come from the AWS_* environment. CPU: every thread of the process.
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
start, cpu_start = time.perf_counter(), time.process_time()
deltalake.write_deltalake(url, table, mode="append", storage_options=options,
                          writer_properties=properties)
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
added = deltalake.DeltaTable(url, storage_options=options).get_add_actions(flatten=True)
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds,
                  "rows": sum(added.column("num_records").to_pylist()),
                  "version": deltalake.__version__}))
)";

}  // namespace

bool HasDeltaRs(const std::string& python, const fs::path& dir) {
  auto probe = RunChild({python, "-c", "import deltalake, pyarrow"}, {}, dir);
  return probe.ok() && probe->exit_code == 0;
}

arrow::Result<PeerTiming> DeltaRsAppend(const std::string& python, const std::string& ipc_path,
                                        const std::string& url,
                                        const std::vector<std::string>& env,
                                        const fs::path& dir, int64_t rows) {
  ARROW_ASSIGN_OR_RAISE(auto child,
                        RunChild({python, "-c", kDeltaRsScript, ipc_path, url}, env, dir));
  if (child.exit_code != 0) {
    return arrow::Status::IOError("delta-rs peer failed (", child.exit_code, "): ",
                                  child.err.substr(0, 2000));
  }
  auto reply = nlohmann::json::parse(child.out, nullptr, false);
  if (reply.is_discarded() || reply.value("rows", int64_t{-1}) != rows) {
    return arrow::Status::IOError("delta-rs peer: unexpected reply ", child.out);
  }
  return PeerTiming{reply["seconds"].get<double>(), reply["cpu_seconds"].get<double>()};
}

}  // namespace arrowport::bench
