#pragma once

#include "arrow/array.h"
#include "arrow/status.h"

namespace arrowport::ingest {

/// \brief Arrow's full validation of one column (`arrow::Array::ValidateFull`: offsets,
/// child lengths, dictionary indices, view buffers, UTF-8), the same verdict, faster for
/// the common string columns: a top-level utf8 or large_utf8 column is validated as the
/// binary column it is laid out as, and its values' UTF-8 is checked by simdutf in one
/// pass over the bytes they span (several times Arrow's per-value check). That pass also
/// reads the bytes of null values, which Arrow does not check: when it fails, Arrow's own
/// validation decides, with Arrow's message. Then every value is held to what DuckDB
/// reads back faithfully (CheckHeldValues). Thread-safe (reads only).
arrow::Status ValidateColumnFull(const arrow::Array& column);

}  // namespace arrowport::ingest
