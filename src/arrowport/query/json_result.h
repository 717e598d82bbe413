#pragma once

// Internal to query (result_writer.cc): a result as one JSON array of row objects.

#include <cstdint>
#include <memory>

#include "arrow/io/type_fwd.h"
#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::query {

/// Writes every row of `reader` to `sink` as `[{"column": value, ...}, ...]`, streamed
/// (a megabyte at a time); returns the rows written.
arrow::Result<int64_t> WriteJson(arrow::RecordBatchReader* reader,
                                 const std::shared_ptr<arrow::io::OutputStream>& sink);

}  // namespace arrowport::query
