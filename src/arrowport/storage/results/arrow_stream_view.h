#pragma once

// Internal to storage: a view over an Arrow stream that DuckDB can scan only once.

#include <duckdb.h>

#include <string>

#include "arrow/c/abi.h"
#include "arrow/status.h"

namespace arrowport::storage {

/// \brief Creates (or replaces) the view `name` in `connection`'s current default
/// catalog and schema over `stream`, through DuckDB's `arrow_scan` with a stream factory
/// of ours that hands the stream to one scan only. A stream is read once: DuckDB starts a
/// new scan of a view each time a plan runs its source again (every step of a recursive
/// CTE's recursive part, each reference to a CTE that is not materialised), and its own
/// C API factory gives every such scan the same, already drained stream: the query then
/// read nothing the second time and answered wrong rows as if they were right. Ours makes
/// that second scan fail the query with `second_scan_error` (an Invalid Input error).
///
/// `stream` stays owned by the caller and must outlive the view and every statement
/// bound over it. Needs DuckDB's C++ API (Database::direct_append_enabled).
arrow::Status CreateSingleScanView(duckdb_connection connection, const std::string& name,
                                   ArrowArrayStream* stream,
                                   const std::string& second_scan_error);

}  // namespace arrowport::storage
