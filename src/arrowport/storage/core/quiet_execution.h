#pragma once

#include <duckdb.h>

#include <functional>

namespace arrowport::storage {

/// \brief Runs `pending` to its result as duckdb_execute_pending does (`out` as it fills
/// it: DuckDBError with the error in `out`), without DuckDB's busy wait. DuckDB's own loop
/// asks its scheduler for a task again and again while the calling thread has none to
/// run: a core spent spinning while a worker runs a single-threaded phase (an insert's
/// final merge and flush) or waits for a client's next batch. Here the thread runs tasks
/// while there are some, then naps (RunTasksQuietly). For long statements (a bulk
/// insert); short ones keep duckdb_query. Interrupts (duckdb_interrupt) end it as they
/// end DuckDB's loop.
duckdb_state ExecutePendingQuietly(duckdb_pending_result pending, duckdb_result* out);

/// ExecutePendingQuietly's loop over `execute_task` (one duckdb_pending_execute_task):
/// called again at once while it runs tasks; once it has had none to run for a while
/// (kAsksBeforeNapping asks in a row), the thread sleeps between calls, in naps that
/// grow from 20 us to at most 500 us (a phase that ends is noticed within a nap). Returns
/// the state that ended it: DUCKDB_PENDING_RESULT_READY or DUCKDB_PENDING_ERROR.
duckdb_pending_state RunTasksQuietly(const std::function<duckdb_pending_state()>& execute_task);

}  // namespace arrowport::storage
