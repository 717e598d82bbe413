#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrow/io/type_fwd.h"
#include "arrow/type_fwd.h"

namespace arrowport::cli {

/// \brief Opens a data file as a stream of record batches, chosen by content/extension:
/// Parquet (.parquet/.pq), CSV (.csv/.tsv), Arrow IPC file or stream (anything else).
/// Batches are read lazily, so large files are never loaded whole.
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> OpenDataFile(const std::string& path,
                                                                      int64_t batch_rows);

/// \brief Opens `path` for writing ("-" = stdout). What goes to a terminal (standard
/// output on one, or a path that opens one: /dev/tty, /dev/stdout) shows each line
/// Printable (terminal_text.h); in a file or a pipe the bytes stay exact.
arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenOutput(const std::string& path);

/// Format implied by a file name's extension: parquet, csv, json, arrow (default).
std::string FormatForPath(const std::string& path);

}  // namespace arrowport::cli
