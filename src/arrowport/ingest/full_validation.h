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
/// validation decides, with Arrow's message. Then timestamps (but nanoseconds) and
/// durations in seconds or milliseconds, at any depth, are held to what DuckDB holds:
/// 290309 BC to 294247 AD, and its +-infinity for microseconds (out of it, a later cast
/// invalidated the database). Then what DuckDB reads back unchecked: decimal128 values
/// within their precision (-2^127 included), and DuckDB's own encodings sent as Arrow's
/// opaque extension (vendor "DuckDB": bit, bignum, time_tz) well formed. Thread-safe
/// (reads only).
arrow::Status ValidateColumnFull(const arrow::Array& column);

}  // namespace arrowport::ingest
