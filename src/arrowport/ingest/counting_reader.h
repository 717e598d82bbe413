#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "arrowport/metrics/metering_reader.h"

namespace arrowport::ingest {

/// \brief Passes `source` through and counts what is pulled from it, so a response
/// reports what DuckDB actually scanned. The counts may be read from another thread.
class CountingReader : public metrics::MeteringReader {
 public:
  explicit CountingReader(std::shared_ptr<arrow::RecordBatchReader> source)
      : MeteringReader(std::move(source), [this](int64_t rows, int64_t bytes) {
          rows_ += rows;
          batches_ += 1;
          bytes_ += bytes;
        }) {}
  int64_t rows() const { return rows_; }
  int64_t batches() const { return batches_; }
  int64_t bytes() const { return bytes_; }  ///< Arrow buffer bytes

 private:
  std::atomic<int64_t> rows_{0}, batches_{0}, bytes_{0};
};

}  // namespace arrowport::ingest
