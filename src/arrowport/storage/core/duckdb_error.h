#pragma once

#include <duckdb.h>

#include <string_view>

#include "arrow/status.h"

namespace arrowport::storage {

/// \brief The one translation of DuckDB errors into Status codes: what a client should
/// see (parser/binder/conversion/constraint -> Invalid, catalog -> KeyError, interrupt ->
/// Cancelled, out of memory -> OutOfMemory, transaction conflicts -> a typed retryable
/// conflict). `error_type` is a duckdb_error_type value; -1 when only the message is known.
arrow::Status TranslateDuckDBError(int error_type, std::string_view message);

/// Takes ownership of DuckDB error data and turns it into a Status (OK when no error).
arrow::Status ConsumeErrorData(duckdb_error_data error);

/// The error of a failed duckdb_result.
arrow::Status ResultError(duckdb_result* result);

/// \brief True for DuckDB's "Transaction COMMIT succeeded and is durable, but the
/// autocheckpoint failed": the work is committed (the checkpoint runs again later), so a
/// caller must report success, never retry it (which would write it twice).
bool CommittedDespiteError(std::string_view message);

/// \brief True for DuckDB's words for a malformed Parquet variant ("Corrupted VARIANT ...",
/// an IO error of its variant decoder, whose words are those of a corrupt file). An
/// ingest, which reads only the client's values with it, reports it as the client's.
bool IsMalformedVariant(const arrow::Status& status);

/// `status` unless it is such a committed-despite-the-error one (then OK).
arrow::Status UnlessCommitted(arrow::Status status);

}  // namespace arrowport::storage
