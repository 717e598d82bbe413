#pragma once

#include "arrow/array/data.h"
#include "arrow/status.h"
#include "arrow/type_fwd.h"

namespace arrowport::ingest {

/// How deep a variant value may nest (objects and arrays in one another). DuckDB's
/// conversions of a variant recurse once per level on a thread's stack: a value 10,000
/// deep crashed the server at its first cast to text, 25,000 at a plain read.
constexpr int kMaxVariantDepth = 256;

/// \brief Holds every arrow.parquet.variant value in `data`, a column of `field` (at any
/// depth: a field whose metadata or type names the extension), to the Parquet variant
/// encoding, before DuckDB decodes it: DuckDB trusts the sizes a value declares (an array
/// claiming 2^32 elements in 6 bytes made it allocate until the kernel killed the
/// server), and reports other malformed values as its own failures (500).
/// - the metadata: version 1, its dictionary's offsets within its bytes, UTF-8 strings;
/// - the value: every element's header, sizes and offsets within the bytes present, no
///   two elements of an object sharing bytes, object field ids within the dictionary,
///   primitive types 0-20 with their sizes, strings UTF-8, decimals within their
///   precision, times of day and timestamps within what DuckDB holds, and at most
///   kMaxVariantDepth levels;
/// - the keys its objects name, each counted as often as named (DuckDB stores a key with
///   every object), at most 8 times the value's own bytes plus 4 KiB.
/// Linear in the bytes. Thread-safe (reads only).
arrow::Status CheckVariantValues(const arrow::Field& field, const arrow::ArrayData& data);

}  // namespace arrowport::ingest
