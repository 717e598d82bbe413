// How a data file's columns are encoded: which go without a dictionary, and of those
// which are delta encoded.
//
// Strings were tried too: DELTA_BYTE_ARRAY for values sharing most of their bytes with
// the one before ("name_0000001", ...). Arrow's encoder made the whole ingest slower
// (7.7-8.2 against 8.7-9.7 M rows/s, same build, runs alternating), so they stay plain.
#include "arrowport/lake/column_encodings.h"

#include <algorithm>
#include <bit>

#include "arrow/array.h"
#include "arrow/compute/api_aggregate.h"
#include "arrow/compute/exec.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"

namespace arrowport::lake {

namespace {

// How many of a file's first rows decide its dictionary columns, and the fewest that can.
constexpr int64_t kDictionarySampleRows = 8192;
constexpr int64_t kDictionaryMinSample = 1024;

// Bits per value that DELTA_BINARY_PACKED needs for the non-null values of an integer
// column: each block of 128 differences between neighbours is stored relative to its
// smallest difference, in four miniblocks of 32 bit-packed at the width of their largest.
// (64-bit differences: for an int32 column spanning more than 2^31 the estimate is
// higher than the encoder's wrapped 32-bit ones, and the column stays plain.)
double DeltaBitsPerValue(const arrow::Array& sample) {
  std::vector<int64_t> values;
  values.reserve(static_cast<size_t>(sample.length()));
  const auto& data = *sample.data();
  for (int64_t i = 0; i < sample.length(); ++i) {
    if (sample.IsNull(i)) continue;
    values.push_back(sample.type()->byte_width() == 4 ? data.GetValues<int32_t>(1)[i]
                                                     : data.GetValues<int64_t>(1)[i]);
  }
  if (values.size() < 2) return 64;
  std::vector<int64_t> deltas(values.size() - 1);
  for (size_t i = 1; i < values.size(); ++i) {
    deltas[i - 1] = static_cast<int64_t>(static_cast<uint64_t>(values[i]) -
                                         static_cast<uint64_t>(values[i - 1]));
  }
  constexpr size_t kBlock = 128, kMiniblock = 32;
  int64_t bits = 0;
  for (size_t block = 0; block < deltas.size(); block += kBlock) {
    const size_t block_end = std::min(deltas.size(), block + kBlock);
    const int64_t block_min =
        *std::min_element(deltas.begin() + block, deltas.begin() + block_end);
    for (size_t mini = block; mini < block_end; mini += kMiniblock) {
      const size_t mini_end = std::min(block_end, mini + kMiniblock);
      const int64_t mini_max = *std::max_element(deltas.begin() + mini, deltas.begin() + mini_end);
      const uint64_t range = static_cast<uint64_t>(mini_max) - static_cast<uint64_t>(block_min);
      bits += static_cast<int64_t>(kMiniblock) * std::bit_width(range);
    }
  }
  return static_cast<double>(bits) / static_cast<double>(deltas.size());
}

// Integer columns whose neighbours differ by little (ids, sequence numbers, event times)
// are delta encoded: at most half their width per value. Plain encoding stores all 64
// bits and leaves zstd to find the pattern: for sorted ids and timestamps the writer
// spends a third less CPU and the files are a quarter smaller. Readers: Parquet 2.0's
// encoding, read by Spark from 3.3, Polars, delta-rs, DuckDB and Trino
// (lake.delta_encodings: false turns it off for older readers). Timestamps reach the
// writer in microseconds (the Delta schema's unit), like their bounds.
bool HasNarrowDeltas(const arrow::Array& sample) {
  switch (sample.type()->id()) {
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::DATE32:
    case arrow::Type::TIMESTAMP:
      return DeltaBitsPerValue(sample) <= sample.type()->byte_width() * 8 / 2;
    default:
      return false;
  }
}

// Parquet keys a column's settings by its dotted path: a top-level "a.b" is also the
// leaf b of a struct a, whose type may not take the encoding. Such names stay plain.
parquet::Encoding::type UndictionariedEncoding(const arrow::Field& field,
                                               const arrow::Array& sample,
                                               bool delta_encodings) {
  if (!delta_encodings || field.name().find('.') != std::string::npos) {
    return parquet::Encoding::PLAIN;
  }
  return HasNarrowDeltas(sample) ? parquet::Encoding::DELTA_BINARY_PACKED
                                 : parquet::Encoding::PLAIN;
}

}  // namespace

std::vector<UndictionariedColumn> UndictionariedColumns(const arrow::RecordBatch& first_rows,
                                                        bool delta_encodings) {
  std::vector<UndictionariedColumn> columns;
  for (int i = 0; i < first_rows.num_columns(); ++i) {
    const auto& type = *first_rows.column(i)->type();
    const bool wide_fixed = arrow::is_fixed_width(type.id()) &&
                            type.id() != arrow::Type::BOOL && type.byte_width() >= 4;
    if (!wide_fixed && !arrow::is_base_binary_like(type.id())) continue;
    auto sample =
        first_rows.column(i)->Slice(0, std::min(first_rows.num_rows(), kDictionarySampleRows));
    const int64_t values = sample->length() - sample->null_count();
    if (values < kDictionaryMinSample) continue;
    arrow::compute::CountOptions only_valid(arrow::compute::CountOptions::ONLY_VALID);
    auto distinct = arrow::compute::CallFunction("count_distinct", {sample}, &only_valid);
    if (!distinct.ok()) continue;  // the default: a dictionary, with its fallback
    const int64_t count =
        static_cast<const arrow::Int64Scalar&>(*distinct->scalar()).value;
    if (count * 10 < values * 9) continue;
    const auto& field = *first_rows.schema()->field(i);
    columns.push_back({field.name(), UndictionariedEncoding(field, *sample, delta_encodings)});
  }
  return columns;
}

}  // namespace arrowport::lake
