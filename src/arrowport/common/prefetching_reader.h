#pragma once

#include <cstddef>
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
std::shared_ptr<arrow::RecordBatchReader> MakePrefetchingReader(
    std::shared_ptr<arrow::RecordBatchReader> inner, size_t depth,
    std::function<void()> interrupt = {});

}  // namespace arrowport
