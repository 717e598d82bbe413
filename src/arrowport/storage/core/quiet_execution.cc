#include "arrowport/storage/core/quiet_execution.h"

#include <algorithm>
#include <thread>

namespace arrowport::storage {

void IdleBackoff::Wait() {
  if (yields_ < kYields) {
    ++yields_;
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(sleep_);
  sleep_ = std::min(sleep_ * 2, longest_);
}

duckdb_pending_state RunTasksQuietly(
    const std::function<duckdb_pending_state()>& execute_task) {
  IdleBackoff idle(kLongestTaskWait);
  for (;;) {
    const duckdb_pending_state state = execute_task();
    if (state == DUCKDB_PENDING_RESULT_READY || state == DUCKDB_PENDING_ERROR) {
      return state;
    }
    if (state == DUCKDB_PENDING_NO_TASKS_AVAILABLE) {
      idle.Wait();
    } else {
      idle.Reset();  // a task ran: keep going at full speed
    }
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
