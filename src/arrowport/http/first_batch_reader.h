#pragma once

#include <functional>
#include <memory>

#include "arrow/record_batch.h"
#include "arrow/result.h"

namespace arrowport::http {

/// \brief Pulls the first batch of `reader` now and returns a reader that replays it and
/// then continues with the rest. A streamed HTTP response commits to its status line with
/// its first byte: reading ahead turns the errors that DuckDB reports only when it runs
/// (parameter casts, division by zero, a missing file behind a view) into a JSON error
/// instead of a 200 followed by a cut body.
/// `check`, when given, judges the first batch (null at no rows) before it is replayed.
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> ReadFirstBatchAhead(
    std::shared_ptr<arrow::RecordBatchReader> reader,
    const std::function<arrow::Status(const arrow::RecordBatch*)>& check = {});

}  // namespace arrowport::http
