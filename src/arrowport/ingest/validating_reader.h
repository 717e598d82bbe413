#pragma once

#include <cstdint>
#include <memory>

#include "arrow/record_batch.h"

namespace arrowport::ingest {

/// \brief Fully validates every batch of `source` before anyone downstream (DuckDB's
/// scan, the appender) reads it: Arrow's full validation checks offsets, dictionary
/// indices, UTF-8, view buffers and child lengths, which DuckDB trusts blindly (a bad
/// offset is a crash or a read of server memory there). A batch that fails, or whose
/// buffers exceed `max_batch_bytes`, ends the stream with Invalid / TooLarge naming the
/// batch and the column. Not thread-safe (one consumer).
std::shared_ptr<arrow::RecordBatchReader> MakeValidatingReader(
    std::shared_ptr<arrow::RecordBatchReader> source, int64_t max_batch_bytes);

}  // namespace arrowport::ingest
