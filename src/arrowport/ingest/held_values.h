#pragma once

#include "arrow/array/data.h"
#include "arrow/status.h"

namespace arrowport::ingest {

/// \brief Holds every value of `data` (an Arrow layout already validated), at any depth,
/// to what DuckDB reads back faithfully. DuckDB trusts what it stores; each value below,
/// planted by one ingest, took the database down for every later reader (hostile runs):
/// its first cast to text raised an internal error that invalidated the database, or, for
/// a BIGNUM, crashed the server.
/// - timestamps (but nanoseconds) and durations in seconds or milliseconds within
///   DuckDB's microseconds (290309 BC to 294247 AD, and its +-infinity), date64 within
///   its 32-bit days;
/// - decimal32, decimal64 and decimal128 values within their precision: Arrow's own check
///   takes an absolute value, and the least integer's wraps to itself (-2^127);
/// - DuckDB's own BIT, BIGNUM and TIME WITH TIME ZONE sent as Arrow's opaque extension
///   (vendor "DuckDB", what DuckDB's lossless export writes), well formed as DuckDB's code
///   writes them.
/// Any other extension type is checked as its storage type, which DuckDB reads it as.
/// Thread-safe (reads only).
arrow::Status CheckHeldValues(const arrow::ArrayData& data);

}  // namespace arrowport::ingest
