#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "arrow/record_batch.h"

namespace arrowport {

/// \brief Wraps a RecordBatchReader so a background thread reads up to `depth` batches
/// ahead of the consumer. Decouples a producer (network receive + IPC decode, or DuckDB
/// fetch + Arrow conversion) from its consumer, so on two cores both run at once, while
/// the bounded queue keeps memory bounded (backpressure, never unbounded buffering).
///
/// The first two ReadNext() calls run inline, so a one-batch stream never starts the
/// thread. `interrupt` (optional) is called when the reader is closed or destroyed early,
/// to unblock an inner ReadNext() that may wait long (e.g. a running DuckDB query), and
/// called again every 200 ms until that read has returned.
/// Thread-safe for one consumer thread.
///
/// `glue` (optional): a read that finds more batches already queued behind the first
/// returns them as one, up to `rows` rows and `bytes` bytes, without waiting for more:
/// a producer of small pieces (DuckDB's 2,048-row chunks) still gives the consumer large
/// batches when it runs ahead, and a consumer never waits for a piece not yet made.
struct GlueLimits {
  int64_t rows = 0;  ///< 0: no gluing
  int64_t bytes = 0;
};
std::shared_ptr<arrow::RecordBatchReader> MakePrefetchingReader(
    std::shared_ptr<arrow::RecordBatchReader> inner, size_t depth,
    std::function<void()> interrupt = {}, GlueLimits glue = {});

}  // namespace arrowport
