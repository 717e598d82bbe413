#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::cli {

/// The column names of the sample data (same values, same distributions).
enum class SamplePreset {
  kDefault,  ///< id, date, category, value, amount, flag, name (no --preset)
  kSample,   ///< the seed query service's: ... value1, value2, active, name
};

/// `generate --preset NAME` ("" = kDefault); an unknown name's error lists the known.
arrow::Result<SamplePreset> ParseSamplePreset(const std::string& name);
/// The known presets and their columns, for --help.
std::string SamplePresetHelp();

/// \brief Sample data like the seed query service: id, date (2023..2025), category
/// (A..E), a normal double (mean 100, sd 15), an exponential double (mean 50), a bool
/// (30% true) and a name, named by `preset`. Deterministic for a seed; produced lazily in batches.
std::shared_ptr<arrow::RecordBatchReader> MakeSampleReader(
    int64_t rows, int64_t batch_rows, uint64_t seed = 42,
    SamplePreset preset = SamplePreset::kDefault);

/// Benchmark schema from design section 10: id int64, value double, name utf8,
/// ts timestamp[us], flag bool (~40 bytes/row). `two_columns`: the seed's id, value.
arrow::Result<std::shared_ptr<arrow::Table>> MakeBenchTable(int64_t rows, int64_t batch_rows,
                                                            bool two_columns);

}  // namespace arrowport::cli
