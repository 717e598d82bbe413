#pragma once

// How a query's result streams out as Arrow: what the connection (storage/database), the
// result readers (storage/results) and the SQL sandbox (storage/sandbox) share about it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrow/type_fwd.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/principal.h"

namespace arrowport {
class MemoryBudget;
struct CallProgress;
}

namespace arrowport::storage {

/// How a statement handed to StartPrepared was made (the SQL sandbox says which).
enum class Planning {
  kPrepared,     ///< prepared (planned): its columns and properties are known
  kSelectAtRun,  ///< a SELECT that changes nothing, planned when it runs (StatementGuard)
  /// A SELECT * of one base table (WholeTableRead), planned when it runs, without
  /// DuckDB's optimizer (OptimizerOff).
  kTableAtRun,
  /// Such a read run from its connection's plan of it (TableReadPlans), current in the
  /// read's snapshot: DuckDB runs it without planning anything.
  kKeptTablePlan,
};

/// Options for streaming query results out as Arrow.
struct QueryOptions {
  int64_t batch_rows = 122880;           ///< target rows per emitted record batch
  std::vector<std::string> parameters;   ///< bound in order to $1, $2, ... as VARCHAR
  bool prefetch = true;  ///< convert the next batches on a background thread
  /// When set, cancelling it interrupts the query (client gone, deadline, shutdown) and
  /// the reader reports the cancellation's reason.
  std::shared_ptr<CallCancellation> cancellation;
  /// When set (and DuckDB's C++ API may be used), DuckDB estimates the query's progress
  /// and progress->QueryPercent() reports it for as long as the result lives.
  std::shared_ptr<CallProgress> progress;
  /// Whose SQL this is: when set, the SQL sandbox (statement_guard.h) judges it before
  /// it runs. Null: the server's own SQL, unchecked.
  std::shared_ptr<const Principal> principal;
  /// Charged with the result batches in flight to the client (set by the connection from
  /// the database's request budget; may be null).
  std::shared_ptr<MemoryBudget> result_memory;
  /// Set by the connection when it is inside an explicit transaction: once the query has
  /// started, a cancellation or an early close stops reading at the next chunk instead of
  /// interrupting DuckDB, whose interrupt in the middle of a fetch aborts the transaction
  /// (a client that closes a half-read result and commits must commit). DuckDB is still
  /// interrupted when that chunk takes CallCancellation::kStuckAfter.
  bool in_open_transaction = false;
  /// Set by the connection when DuckDB's C++ API may be used (the library as built):
  /// a SELECT's result is then converted to Arrow by DuckDB's worker threads in
  /// parallel (result_sources.h) instead of chunk by chunk on the reading thread.
  bool parallel_conversion = false;
  /// Set by a prepared statement that is a SELECT * of one base table (StatementGuard):
  /// planned at each run without DuckDB's optimizer, which can only leave it as it is.
  bool unoptimized = false;
  /// A transform's input (DoExchange, transforms on ingest): the statement reads it as
  /// the relation `input`, once, batch by batch as it arrives. The statement must then
  /// be one SELECT, judged for `principal` (required) like any client SQL; `input` is
  /// the one relation of the server's scratch space it may read.
  std::shared_ptr<arrow::RecordBatchReader> input;
  /// With `input`: a DoExchange, whose client may wait for its answer before it sends
  /// more. Every chunk DuckDB makes is handed over at once (glued only to chunks already
  /// waiting), so no answer waits for input that has not come.
  bool interactive = false;
};

/// The name a transform's statement reads its input by (QueryOptions::input).
inline constexpr const char* kTransformInput = "input";

/// What a transform whose plan scans `input` a second time fails with: the client's
/// stream is not stored, so that scan would find it empty and the answer be wrong.
inline constexpr const char* kInputReadTwice =
    "transform: 'input' is read more than once (a recursive CTE or a repeated reference "
    "re-scans it, and the client's stream is not stored); read it once, e.g. "
    "WITH i AS MATERIALIZED (SELECT * FROM input)";

}  // namespace arrowport::storage
