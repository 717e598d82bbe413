#pragma once

#include <memory>

#include "arrow/record_batch.h"
#include "arrow/result.h"

namespace arrowport {

/// \brief `batch` with every buffer aligned for its values (Arrow's type-specific
/// alignment): misaligned buffers are copied, aligned ones shared. Arrow's IPC decoding is
/// zero-copy, so a received batch's buffers sit wherever they were in the gRPC message or
/// the HTTP body, at any address; reading values through a misaligned pointer is undefined
/// behaviour (UBSan reports it), in our code and in DuckDB's scan. Call it once the
/// batch's size is known to be within limits: a copy costs at most that size.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> AlignBuffers(
    std::shared_ptr<arrow::RecordBatch> batch);

}  // namespace arrowport
