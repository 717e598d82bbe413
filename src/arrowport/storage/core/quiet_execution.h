#pragma once

#include <duckdb.h>

#include <chrono>
#include <functional>

namespace arrowport::storage {

/// \brief How a thread that polls DuckDB waits while DuckDB's workers hold every task:
/// a few yields (the next task or unit is often microseconds away), then sleeps that
/// double from 10 us up to `longest` (the kernel's timer slack adds about as much).
/// Reset() after each task run here. Not thread-safe (one polling thread).
class IdleBackoff {
 public:
  explicit IdleBackoff(std::chrono::microseconds longest) : longest_(longest) {}
  void Wait();
  void Reset() {
    yields_ = 0;
    sleep_ = kShortestSleep;
  }

 private:
  static constexpr int kYields = 64;
  static constexpr std::chrono::microseconds kShortestSleep{10};
  const std::chrono::microseconds longest_;
  int yields_ = 0;
  std::chrono::microseconds sleep_ = kShortestSleep;
};

/// \brief Runs `pending` to its result as duckdb_execute_pending does (`out` as it
/// fills it: DuckDBError with the error in `out`), without DuckDB's busy wait. DuckDB's
/// own loop asks its scheduler for a task again and again while the calling thread has
/// none to run: a core spent spinning while a worker runs a single-threaded phase (an insert's
/// final merge and flush) or waits for a client's next batch. Here the thread runs tasks
/// while there are some, then backs off (RunTasksQuietly). For long statements (a bulk
/// insert); short ones keep duckdb_query. Interrupts (duckdb_interrupt) end it as they
/// end DuckDB's loop.
duckdb_state ExecutePendingQuietly(duckdb_pending_result pending, duckdb_result* out);

/// The longest sleep of ExecutePendingQuietly's back-off: how late at most (plus timer
/// slack) the calling thread notices that a phase ended and a task waits for it.
constexpr std::chrono::microseconds kLongestTaskWait{500};

/// ExecutePendingQuietly's loop over `execute_task` (one duckdb_pending_execute_task):
/// called again at once while it runs tasks, through an IdleBackoff(kLongestTaskWait)
/// while it has none. Returns the state that ended it: DUCKDB_PENDING_RESULT_READY or
/// DUCKDB_PENDING_ERROR.
duckdb_pending_state RunTasksQuietly(
    const std::function<duckdb_pending_state()>& execute_task);

}  // namespace arrowport::storage
