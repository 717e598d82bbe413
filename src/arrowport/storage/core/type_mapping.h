#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "arrow/status.h"
#include "arrow/type_fwd.h"
#include "arrowport/storage/core/column_info.h"

namespace arrowport::storage {

/// Widest schema accepted for ingest (see CheckIngestSchema).
constexpr int kMaxIngestColumns = 10'000;
/// Longest column (or nested field) name accepted for ingest, in bytes.
constexpr size_t kMaxColumnNameBytes = 1024;

/// DuckDB's timestamps in microseconds: 290309-12-22 BC to 294247-01-10 04:00:54.775806,
/// and +-infinity (+-int64 max). Any other value stored is one no cast handles: its first
/// ::VARCHAR raised an internal error that invalidated the database (a hostile run).
constexpr int64_t kLeastTimestampMicros = -9223372022400000000;
constexpr int64_t kMostTimestampMicros = std::numeric_limits<int64_t>::max() - 1;
constexpr bool DuckDBHoldsTimestamp(int64_t micros) {
  return (micros >= kLeastTimestampMicros && micros <= kMostTimestampMicros) ||
         micros == -std::numeric_limits<int64_t>::max() ||
         micros == std::numeric_limits<int64_t>::max();
}

/// \brief Checks that every field of an incoming Arrow schema can be stored by DuckDB
/// faithfully: non-empty, unique (case-insensitively, as DuckDB resolves names) column
/// names without NUL bytes (DuckDB would silently cut them there) and at most
/// kMaxColumnNameBytes long, nested field names likewise, and types DuckDB holds without loss. `creating` is true when the schema will
/// define a new table (an all-null `null` column cannot define a column type).
arrow::Status CheckIngestSchema(const arrow::Schema& schema, bool creating);

/// \brief Column type (SQL spelling) DuckDB should use when creating a table for an
/// incoming column of scan type `scan_type`. Dictionary-encoded strings scan as ENUMs of
/// just the values seen in the first batch; they are stored as VARCHAR so later values fit.
std::string StorageTypeFor(const ColumnType& scan_type);

/// \brief True when values of type `from` can be inserted into a column of type `to`
/// without loss: the same type, a column of the null type, or a safe widening (integers
/// into wider integers of the same signedness, unsigned into wider signed, FLOAT into
/// DOUBLE, 8- and 16-bit integers into DOUBLE, DECIMAL into one with no fewer integer and
/// fraction digits, DATE/TIMESTAMP_S/TIMESTAMP_MS into TIMESTAMP, ENUM into VARCHAR).
bool IsSafeConversion(const ColumnType& from, const ColumnType& to);

/// True for DuckDB's NULL type (an Arrow null column): it cannot define a column.
bool IsNullType(const ColumnType& type);

/// True when `a` and `b` are exactly the same type (no conversion at all).
bool SameType(const ColumnType& a, const ColumnType& b);

}  // namespace arrowport::storage
