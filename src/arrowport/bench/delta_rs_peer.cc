// The delta-rs peer of the lake bench (delta_rs_peer.h): a Python child process.
#include "arrowport/bench/delta_rs_peer.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

extern char** environ;

namespace arrowport::bench {

namespace {

namespace fs = std::filesystem;

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

}  // namespace

// The interpreter for the delta-rs peer: --python, else the test suite's virtualenv in
// the working directory (./bin/test installs deltalake there), else python3 on PATH.
std::string PeerPython(const BenchOptions& options) {
  if (!options.python.empty()) return options.python;
  if (::access(".venv/bin/python", X_OK) == 0) return fs::absolute(".venv/bin/python").string();
  return "python3";
}

bool HasDeltaRs(const std::string& python, const fs::path& dir) {
  auto probe = RunChild({python, "-c", "import deltalake, pyarrow"}, {}, dir);
  return probe.ok() && probe->exit_code == 0;
}

arrow::Result<double> DeltaRsAppend(const std::string& python, const std::string& ipc_path,
                                    const std::string& url, const std::vector<std::string>& env,
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
  return reply["seconds"].get<double>();
}

}  // namespace arrowport::bench
