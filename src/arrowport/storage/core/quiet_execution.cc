#include "arrowport/storage/core/quiet_execution.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace arrowport::storage {
namespace {

// Tasks asked for in a row, without a nap, before the first one: a phase that hands
// over at once (the next pipeline scheduled) costs no sleep.
constexpr int kAsksBeforeNapping = 64;
constexpr auto kFirstNap = std::chrono::microseconds(20);
constexpr auto kMaxNap = std::chrono::microseconds(500);

}  // namespace

duckdb_pending_state RunTasksQuietly(
    const std::function<duckdb_pending_state()>& execute_task) {
  int idle_asks = 0;
  auto nap = kFirstNap;
  for (;;) {
    const duckdb_pending_state state = execute_task();
    if (state == DUCKDB_PENDING_RESULT_READY || state == DUCKDB_PENDING_ERROR) return state;
    if (state != DUCKDB_PENDING_NO_TASKS_AVAILABLE) {
      // A task ran: keep going at full speed.
      idle_asks = 0;
      nap = kFirstNap;
      continue;
    }
    if (++idle_asks <= kAsksBeforeNapping) continue;
    std::this_thread::sleep_for(nap);
    nap = std::min<std::chrono::microseconds>(nap * 2, kMaxNap);
  }
}

duckdb_state ExecutePendingQuietly(duckdb_pending_result pending, duckdb_result* out) {
  // DuckDB's C API reports a task blocked on an asynchronous source (which its own loop
  // waits for) as an error state: duckdb_execute_pending then finishes with DuckDB's own
  // loop, and reports a real error (with its type) as it always does.
  (void)RunTasksQuietly([pending] { return duckdb_pending_execute_task(pending); });
  return duckdb_execute_pending(pending, out);
}

}  // namespace arrowport::storage
