#pragma once
// Shared by the fuzz targets that decode Arrow IPC: reads every batch the way the ingest
// pipeline does before DuckDB sees it (ValidatingReader: size limits, the DuckDB
// expansion estimate, full Arrow validation), stopping at the first refusal.

#include <cstdint>
#include <memory>

#include "arrow/record_batch.h"
#include "arrowport/ingest/validating_reader.h"

namespace arrowport::fuzz {

/// A small batch limit, so that the refusals near it are reached by small inputs.
inline constexpr int64_t kMaxBatchBytes = int64_t{1} << 20;

inline void DrainLikeTheIngestPipeline(std::shared_ptr<arrow::RecordBatchReader> source) {
  auto validating = ingest::MakeValidatingReader(std::move(source), kMaxBatchBytes);
  for (int i = 0; i < 1000; ++i) {
    std::shared_ptr<arrow::RecordBatch> batch;
    if (!validating->ReadNext(&batch).ok() || batch == nullptr) break;
    // What was accepted must be as valid as the reader says (DuckDB trusts it).
    if (!batch->ValidateFull().ok()) __builtin_trap();
  }
  (void)validating->error();
  (void)validating->Close();
}

}  // namespace arrowport::fuzz
