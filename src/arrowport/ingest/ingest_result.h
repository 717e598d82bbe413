#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "arrow/status.h"

namespace arrowport::ingest {

/// What one ingest request did, as protocols report it.
struct IngestResult {
  std::string stream;
  std::string table;
  int64_t rows = 0;
  int64_t batches = 0;
  int64_t bytes = 0;  ///< Arrow buffer bytes received
  double seconds = 0;
  bool created = false;    ///< the table was created by this request
  bool duplicate = false;  ///< request_id seen before: nothing inserted, original counts
  /// per_batch: of rows, batches and bytes, the part an earlier or racing copy of the
  /// request committed (received again, not written); left out of the stream's counters.
  int64_t repeated_rows = 0;
  int64_t repeated_batches = 0;
  int64_t repeated_bytes = 0;
  /// The rows joined the caller's open transaction: they commit (or not) with it.
  bool in_transaction = false;

  int64_t written_rows() const { return rows - repeated_rows; }
  int64_t written_batches() const { return batches - repeated_batches; }
  int64_t written_bytes() const { return bytes - repeated_bytes; }

  /// One more batch received; `repeated`: per_batch, and a copy of the request had
  /// committed it.
  void AddBatch(int64_t batch_rows, int64_t batch_bytes, bool repeated) {
    rows += batch_rows;
    bytes += batch_bytes;
    batches += 1;
    if (repeated) {
      repeated_rows += batch_rows;
      repeated_bytes += batch_bytes;
      repeated_batches += 1;
    }
  }
};

/// Called after each committed batch in per_batch mode, before the next one is read.
/// A non-OK status aborts the request (later batches are not written).
using BatchCommitted = std::function<arrow::Status(int64_t batch_index, int64_t rows)>;

}  // namespace arrowport::ingest
