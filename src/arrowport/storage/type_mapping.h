#pragma once

#include <string>
#include <string_view>

#include "arrow/status.h"
#include "arrow/type_fwd.h"

namespace arrowport::storage {

/// Widest schema accepted for ingest (see CheckIngestSchema).
constexpr int kMaxIngestColumns = 10'000;
/// Longest column (or nested field) name accepted for ingest, in bytes.
constexpr size_t kMaxColumnNameBytes = 1024;

/// \brief Checks that every field of an incoming Arrow schema can be stored by DuckDB
/// faithfully: non-empty, unique (case-insensitively, as DuckDB resolves names) column
/// names without NUL bytes (DuckDB would silently cut them there) and at most
/// kMaxColumnNameBytes long, nested field names likewise, and types DuckDB holds without loss. `creating` is true when the schema will
/// define a new table (an all-null `null` column cannot define a column type).
arrow::Status CheckIngestSchema(const arrow::Schema& schema, bool creating);

/// \brief Column type DuckDB should use when creating a table for an incoming column
/// whose scan type is `scan_type`. Dictionary-encoded strings scan as ENUMs of just the
/// values seen in the first batch; they are stored as VARCHAR so later values fit.
std::string StorageTypeFor(std::string_view scan_type);

/// \brief True when values of DuckDB type `from` can be inserted into a column of type
/// `to` without loss (same type, or a safe widening such as INTEGER -> BIGINT).
bool IsSafeConversion(std::string_view from, std::string_view to);

}  // namespace arrowport::storage
