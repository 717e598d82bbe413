// The DuckLake peer of the lake bench (ducklake_peer.h): a Python child process.
#include "arrowport/bench/ducklake_peer.h"

#include <nlohmann/json.hpp>

namespace arrowport::bench {

namespace {

namespace fs = std::filesystem;

// One script, two modes. DuckDB 1.5.5 cannot download extensions here: the ducklake and
// sqlite extensions come from their PyPI packages, linked under their canonical names
// into an extension directory (as tests/e2e/ducklake_peers.py does).
// insert IPC LAKE_DIR: the table read into memory, the lake attached and its Parquet
// compression set to zstd (ours is zstd), a warm-up insert of 1,000 rows into another
// table of the lake (a fresh process's first write sets up DuckDB's threads and the
// extension), the empty table made, then the INSERT timed alone.
// check IPC LAKE_DIR...: every lake's main.t against the Arrow table; exit 1 on a mismatch.
constexpr char kDuckLakeScript[] = R"py(import json, shutil, sys, tempfile, time
from pathlib import Path
import pyarrow as pa, pyarrow.ipc as ipc
import duckdb, duckdb_extension_ducklake, duckdb_extension_sqlite

def connect(extensions):
    versioned = extensions / f"v{duckdb.__version__}" / duckdb.execute(
        "PRAGMA platform").fetchone()[0]
    versioned.mkdir(parents=True)
    for canonical, module, name in (("ducklake", duckdb_extension_ducklake, "ducklake"),
                                    ("sqlite_scanner", duckdb_extension_sqlite, "sqlite")):
        found = sorted(Path(module.__file__).parent.glob(f"extensions/*/{name}.duckdb_extension"))
        (versioned / f"{canonical}.duckdb_extension").symlink_to(found[-1])
    con = duckdb.connect(config={"extension_directory": str(extensions),
                                 "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    con.execute("SET enable_progress_bar = false")  # it prints on stdout, our reply's
    con.execute("LOAD ducklake")
    con.execute("LOAD sqlite_scanner")
    return con

def attach(con, lake_dir, name, read_only=False):
    quote = lambda text: "'" + str(text).replace("'", "''") + "'"
    con.execute(f"ATTACH {quote('ducklake:sqlite:' + lake_dir + '/catalog.sqlite')} AS {name} "
                f"(DATA_PATH {quote(lake_dir + '/data/')}{', READ_ONLY' if read_only else ''})")

STATS = ("SELECT count(*), sum(id), sum(length(name)), sum(epoch_us(ts)), count_if(flag), "
         "sum(value) FROM ")

mode, source, lakes = sys.argv[1], sys.argv[2], sys.argv[3:]
with pa.OSFile(source) as f:
    table = ipc.open_file(f).read_all()
extensions = Path(tempfile.mkdtemp(prefix="arrowport-bench-ext-"))
try:
    con = connect(extensions)
    con.register("arrow_table", table)
    if mode == "insert":
        Path(lakes[0]).mkdir(parents=True)
        attach(con, lakes[0], "lk")
        con.execute("CALL lk.set_option('parquet_compression', 'zstd')")
        con.register("warmup_rows", table.slice(0, 1000))
        con.execute("CREATE TABLE lk.warmup AS SELECT * FROM warmup_rows")
        con.execute("CREATE TABLE lk.t AS SELECT * FROM arrow_table LIMIT 0")
        start, cpu_start = time.perf_counter(), time.process_time()
        con.execute("INSERT INTO lk.t SELECT * FROM arrow_table")
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        rows = con.execute("SELECT count(*) FROM lk.t").fetchone()[0]
        print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "rows": rows,
                          "version": duckdb.__version__}))
    else:
        expected = con.execute(STATS + "arrow_table").fetchone()
        for i, lake in enumerate(lakes):
            attach(con, lake, f"l{i}", read_only=True)
            got = con.execute(STATS + f"l{i}.main.t").fetchone()
            if got[:5] != expected[:5] or abs(got[5] - expected[5]) > 1e-9 * abs(expected[5]):
                sys.exit(f"{lake}: count and sums {got}, expected {expected}")
        print(json.dumps({"lakes": len(lakes), "rows": expected[0]}))
finally:
    shutil.rmtree(extensions, ignore_errors=True)
)py";

}  // namespace

bool HasDuckLakePeer(const std::string& python, const fs::path& dir) {
  auto probe = RunChild({python, "-c",
                         "import duckdb, pyarrow, duckdb_extension_ducklake, "
                         "duckdb_extension_sqlite"},
                        {}, dir);
  return probe.ok() && probe->exit_code == 0;
}

arrow::Result<PeerTiming> DuckLakeInsert(const std::string& python, const std::string& ipc_path,
                                         const std::string& lake_dir, const fs::path& dir,
                                         int64_t rows) {
  ARROW_ASSIGN_OR_RAISE(
      auto child, RunChild({python, "-c", kDuckLakeScript, "insert", ipc_path, lake_dir}, {}, dir));
  if (child.exit_code != 0) {
    return arrow::Status::IOError("DuckLake peer failed (", child.exit_code, "): ",
                                  child.err.substr(0, 2000));
  }
  auto reply = nlohmann::json::parse(child.out, nullptr, false);
  if (reply.is_discarded() || reply.value("rows", int64_t{-1}) != rows) {
    return arrow::Status::IOError("DuckLake peer: unexpected reply ", child.out);
  }
  return PeerTiming{reply["seconds"].get<double>(), reply["cpu_seconds"].get<double>()};
}

arrow::Status CheckDuckLakes(const std::string& python, const std::string& ipc_path,
                             const std::vector<std::string>& lake_dirs, const fs::path& dir) {
  std::vector<std::string> argv = {python, "-c", kDuckLakeScript, "check", ipc_path};
  argv.insert(argv.end(), lake_dirs.begin(), lake_dirs.end());
  ARROW_ASSIGN_OR_RAISE(auto child, RunChild(argv, {}, dir));
  if (child.exit_code != 0) {
    return arrow::Status::IOError("DuckDB 1.5.5 reading the DuckLakes back (", child.exit_code,
                                  "): ", child.err.substr(0, 2000));
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::bench
