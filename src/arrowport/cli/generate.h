#pragma once

#include <cstdint>
#include <memory>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::cli {

/// \brief Sample data like the seed query service: id, date, category, value (normal),
/// amount (exponential), flag, name. Deterministic for a seed; produced lazily in batches.
std::shared_ptr<arrow::RecordBatchReader> MakeSampleReader(int64_t rows, int64_t batch_rows,
                                                           uint64_t seed = 42);

/// Benchmark schema from design section 10: id int64, value double, name utf8,
/// ts timestamp[us], flag bool (~40 bytes/row). `two_columns`: the seed's id, value.
arrow::Result<std::shared_ptr<arrow::Table>> MakeBenchTable(int64_t rows, int64_t batch_rows,
                                                            bool two_columns);

}  // namespace arrowport::cli
