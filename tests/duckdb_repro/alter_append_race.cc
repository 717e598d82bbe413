// A reproduction against DuckDB alone (no Arrowport code, plain SQL through DuckDB's C++
// API) of the corruption that src/arrowport/storage/core/table_gates.h works around.
//
// Writers of one table, each on its own connection, in transactions: every tenth
// transaction of a writer (its first included) adds a column of its own (BEGIN; ALTER
// TABLE t ADD COLUMN cW_G; INSERT ...; COMMIT), the others only insert. The transactions
// that ALTER run one at a time, as Arrowport's per-table DDL lock made them; the inserts
// run beside them. Every transaction whose COMMIT succeeded must be found whole after
// the database is closed and reopened.
//
// With DuckDB 2.0.0, in seconds (4 writers are enough): "INTERNAL Error: row_idx in
// InitializeScanWithOffset out of range" or, at a checkpoint, "Corrupted in-memory column
// - column with index 0 has misaligned count"; the database is invalidated; a committed
// transaction comes back partial or missing, and a failed one is present. Why:
// RowGroup::AddColumn builds the altered table's row groups over the old ones' column
// data (shared, not copied) and marks the old table ALTERED so nobody appends to it; but
// a writer whose commit then fails on the ALTER (CommitState: "another transaction has
// altered this table") reverts its append with DataTable::RevertAppend, which marks the
// old table MAIN_TABLE again and truncates the shared columns. From then on, until the
// ALTER's own commit fails ("Failed to alter table ... because the underlying table
// state was reverted by a concurrent transaction"), both versions append to and
// truncate the same column data.
//
// Usage: duckdb_alter_append_race DB_PATH WRITERS SECONDS MODE
//   MODE 0: as above (exit 1 when the corruption shows, 0 when every commit held).
//   MODE 1: the workaround: every transaction that appends holds the table shared from
//           before BEGIN until after COMMIT, and the ALTER's transaction holds it alone
//           (exit 0 expected, and no errors).
//   MODE 2: only the appends' COMMITs kept apart from the ALTER's transaction: nothing is
//           corrupted (the commit that fails on the ALTER is the cause), but inserts run
//           beside the ALTER fail with DuckDB's conflict errors; hence mode 1.
#include <duckdb.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Outcome {
  std::mutex mutex;
  std::map<std::string, int64_t> committed;  // request -> rows, COMMIT succeeded
  std::map<std::string, int> errors;         // first 90 characters -> count
  std::string fatal;                         // the first error that ended the run
};

std::string ErrorOf(duckdb::QueryResult* result) {
  for (auto* r = result; r != nullptr; r = r->next.get()) {
    if (r->HasError()) return r->GetError();
  }
  return "";
}

void Writer(duckdb::DuckDB& db, int w, std::chrono::steady_clock::time_point stop,
            int mode, std::shared_mutex& table, Outcome& out) {
  duckdb::Connection conn(db);
  std::mt19937 rnd(w);
  const int64_t sizes[] = {1, 50, 183, 2000, 20000};
  int generation = 0;  // of this writer's column: the next is added every tenth commit
  int commits = 0;
  bool added = false;
  for (int n = 0; std::chrono::steady_clock::now() < stop; ++n) {
    const std::string req = "w" + std::to_string(w) + "-" + std::to_string(n);
    const std::string column = "c" + std::to_string(w) + "_" + std::to_string(generation);
    const int64_t rows = sizes[rnd() % 5];
    std::string sql = "BEGIN; ";
    if (!added) sql += "ALTER TABLE t ADD COLUMN " + column + " BIGINT; ";
    sql += "INSERT INTO t (req, seq, " + column + ") SELECT '" + req +
           "', range, range FROM range(" + std::to_string(rows) + "); COMMIT";
    std::unique_lock<std::shared_mutex> alone(table, std::defer_lock);
    std::shared_lock<std::shared_mutex> shared(table, std::defer_lock);
    if (!added) {
      alone.lock();
    } else if (mode == 1) {
      shared.lock();
    }
    std::string error;
    if (mode == 2 && added) {
      // Experiment: the insert beside the ALTER, only its COMMIT kept apart from it.
      auto result = conn.Query(sql.substr(0, sql.size() - 8));
      error = ErrorOf(result.get());
      if (error.empty()) {
        shared.lock();
        error = ErrorOf(conn.Query("COMMIT").get());
      }
    } else {
      auto result = conn.Query(sql);
      error = ErrorOf(result.get());
    }
    std::lock_guard<std::mutex> lock(out.mutex);
    if (error.empty()) {
      out.committed[req] = rows;
      added = ++commits % 10 != 0;
      if (!added) ++generation;  // the next transaction adds the next column
      continue;
    }
    ++out.errors[error.substr(0, 90)];
    if (conn.HasActiveTransaction()) conn.Query("ROLLBACK");
    if (error.find("INTERNAL") != std::string::npos ||
        error.find("FATAL") != std::string::npos) {
      if (out.fatal.empty()) out.fatal = error.substr(0, error.find("\n\nStack Trace"));
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s DB_PATH WRITERS SECONDS MODE\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int writers = std::stoi(argv[2]);
  const int seconds = std::stoi(argv[3]);
  const int mode = std::stoi(argv[4]);
  std::remove(path.c_str());
  std::remove((path + ".wal").c_str());
  Outcome out;
  {
    duckdb::DuckDB db(path);
    duckdb::Connection(db).Query("CREATE TABLE t (req VARCHAR, seq BIGINT)");
    const auto stop = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    std::shared_mutex table;
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] { Writer(db, w, stop, mode, table, out); });
    }
    for (auto& t : threads) t.join();
  }
  std::printf("%zu transactions committed\n", out.committed.size());
  for (const auto& [error, n] : out.errors) std::printf("  %6d x %s\n", n, error.c_str());
  if (!out.fatal.empty()) std::printf("database invalidated: %s\n", out.fatal.c_str());

  duckdb::DuckDB db(path);
  duckdb::Connection conn(db);
  auto found_rows =
      conn.Query("SELECT req, count(*), count(DISTINCT seq) FROM t GROUP BY req");
  if (found_rows->HasError()) {
    std::printf("reopening failed: %s\n", found_rows->GetError().c_str());
    return 1;
  }
  std::map<std::string, std::pair<int64_t, int64_t>> found;
  for (auto& row : *found_rows) {
    found[row.GetValue<std::string>(0)] = {row.GetValue<int64_t>(1),
                                           row.GetValue<int64_t>(2)};
  }
  int wrong = 0, stray = 0;
  for (const auto& [req, rows] : out.committed) {
    auto it = found.find(req);
    const int64_t got = it == found.end() ? 0 : it->second.first;
    if (got != rows || (it != found.end() && it->second.second != rows)) {
      if (++wrong <= 10) {
        std::printf("committed %s with %lld rows: found %lld\n", req.c_str(),
                    static_cast<long long>(rows), static_cast<long long>(got));
      }
    }
  }
  for (const auto& entry : found) stray += out.committed.count(entry.first) ? 0 : 1;
  std::printf("%d of %zu committed transactions lost or partial after reopening; %d that "
              "failed are present\n", wrong, out.committed.size(), stray);
  return wrong == 0 && stray == 0 && out.fatal.empty() ? 0 : 1;
}
