#pragma once

// For DuckDB's Arrow scan: storage's streams and the bench's DuckDB ceilings.

#include <memory>

#include "arrow/c/abi.h"
#include "arrow/record_batch.h"

namespace arrowport {

/// \brief Exports `reader` into `out` as an ArrowArrayStream that keeps every schema it
/// hands out: DuckDB's scan asks for the schema several times and does not release every
/// copy, so the stream owns them all and releases them with itself.
arrow::Status ExportSchemaOwningStream(std::shared_ptr<arrow::RecordBatchReader> reader,
                                       ArrowArrayStream* out);

}  // namespace arrowport
