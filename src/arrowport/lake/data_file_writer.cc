#include "arrowport/lake/data_file_writer.h"
#include "arrowport/lake/json_text.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string_view>
#include <optional>

#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/metadata.h>
#include <parquet/properties.h>
#include <parquet/statistics.h>

#include "arrow/array.h"
#include "arrow/builder.h"
#include "arrow/compute/api_aggregate.h"
#include "arrow/compute/cast.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/util/decimal.h"

namespace arrowport::lake {

namespace {

using nlohmann::json;

// Rows per Parquet row group: what one open file holds in memory before it streams out,
// and the unit DuckDB and Spark read in parallel.
constexpr int64_t kRowGroupRows = 131072;
constexpr int64_t kDictionaryPageBytes = 256 * 1024;
// How many of a file's first rows decide its dictionary columns, and the fewest that can.
constexpr int64_t kDictionarySampleRows = 8192;
constexpr int64_t kDictionaryMinSample = 1024;
// Strings longer than this get no min/max (a truncated max would not bound the column).
constexpr size_t kMaxStatsString = 64;

bool HasMinMax(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE:
    case arrow::Type::STRING:
    case arrow::Type::DATE32:
    case arrow::Type::TIMESTAMP:
      return true;
    default:
      return false;
  }
}

// Bounds outside years 1 to 9999 are left out: readers parse them as four-digit years
// (delta-rs panicked on "5881580-07-11"); such a file is simply never skipped by them.
constexpr int32_t kFirstDay = -719162;   // 0001-01-01, days since 1970-01-01
constexpr int32_t kLastDay = 2932896;    // 9999-12-31
constexpr int64_t kFirstMicro = int64_t{-62135596800} * 1000000;    // 0001-01-01T00:00:00
constexpr int64_t kLastMicro = int64_t{253402300799} * 1000000 + 999000;  // max rounds up

// The JSON value of a statistic; null when the value cannot be stated exactly.
json StatValue(const arrow::Scalar& scalar, bool is_max) {
  if (!scalar.is_valid) return nullptr;
  switch (scalar.type->id()) {
    case arrow::Type::INT8: return static_cast<const arrow::Int8Scalar&>(scalar).value;
    case arrow::Type::INT16: return static_cast<const arrow::Int16Scalar&>(scalar).value;
    case arrow::Type::INT32: return static_cast<const arrow::Int32Scalar&>(scalar).value;
    case arrow::Type::INT64: return static_cast<const arrow::Int64Scalar&>(scalar).value;
    case arrow::Type::FLOAT: {
      const double v = static_cast<const arrow::FloatScalar&>(scalar).value;
      return std::isfinite(v) ? json(v) : json(nullptr);
    }
    case arrow::Type::DOUBLE: {
      const double v = static_cast<const arrow::DoubleScalar&>(scalar).value;
      return std::isfinite(v) ? json(v) : json(nullptr);
    }
    case arrow::Type::STRING: {
      auto view = static_cast<const arrow::StringScalar&>(scalar).view();
      if (view.size() > kMaxStatsString) return nullptr;
      return std::string(view);  // valid UTF-8: validated on ingest, replaced when dumped
    }
    case arrow::Type::DATE32: {
      const int32_t days = static_cast<const arrow::Date32Scalar&>(scalar).value;
      if (days < kFirstDay || days > kLastDay) return nullptr;
      return FormatDate(days);
    }
    case arrow::Type::TIMESTAMP: {
      const auto& type = static_cast<const arrow::TimestampType&>(*scalar.type);
      const int64_t micros = static_cast<const arrow::TimestampScalar&>(scalar).value;
      if (micros < kFirstMicro || micros > kLastMicro) return nullptr;
      return FormatTimestamp(micros,
                             is_max ? TimestampText::kStatsMax : TimestampText::kStatsMin,
                             !type.timezone().empty());
    }
    default:
      return nullptr;
  }
}

arrow::Result<parquet::Compression::type> CodecOf(const std::string& name) {
  if (name == "zstd") return parquet::Compression::ZSTD;
  if (name == "snappy") return parquet::Compression::SNAPPY;
  if (name == "gzip") return parquet::Compression::GZIP;
  if (name == "lz4") return parquet::Compression::LZ4;
  if (name == "none" || name == "uncompressed") return parquet::Compression::UNCOMPRESSED;
  return arrow::Status::Invalid("lake compression must be zstd, snappy, gzip, lz4 or none, got '",
                                name, "'");
}

// Combines per-batch minima (or maxima) into one.
std::shared_ptr<arrow::Scalar> Combine(const std::vector<std::shared_ptr<arrow::Scalar>>& parts,
                                       bool want_max) {
  if (parts.empty()) return nullptr;
  std::unique_ptr<arrow::ArrayBuilder> builder;
  if (!arrow::MakeBuilder(arrow::default_memory_pool(), parts[0]->type, &builder).ok()) {
    return nullptr;
  }
  for (const auto& part : parts) {
    if (!builder->AppendScalar(*part).ok()) return nullptr;
  }
  std::shared_ptr<arrow::Array> array;
  if (!builder->Finish(&array).ok()) return nullptr;
  auto result = arrow::compute::MinMax(array);
  if (!result.ok()) return nullptr;
  const auto& pair = result->scalar_as<arrow::StructScalar>();
  return pair.value[want_max ? 1 : 0];
}

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

// The share of a string column's bytes that each value has in common with the value
// before it (nulls skipped, as the encoder skips them).
template <typename ArrayType>
double SharedPrefixShare(const ArrayType& values) {
  int64_t shared = 0, total = 0;
  std::optional<std::string_view> previous;
  for (int64_t i = 0; i < values.length(); ++i) {
    if (values.IsNull(i)) continue;
    const std::string_view value = values.GetView(i);
    total += static_cast<int64_t>(value.size());
    if (previous) {
      const size_t n = std::min(previous->size(), value.size());
      shared += std::mismatch(value.begin(), value.begin() + n, previous->begin()).first -
                value.begin();
    }
    previous = value;
  }
  return total == 0 ? 0 : static_cast<double>(shared) / static_cast<double>(total);
}

// String columns whose neighbours share most of their bytes (keys and names with a
// common stem and a counter, sorted paths and URLs) are DELTA_BYTE_ARRAY: each value is
// stored as the length of the prefix it shares with the one before and the rest, so the
// compressor sees a fraction of the bytes (the bench table, names "name_0000001" on:
// a fifth less writer CPU, smaller files, faster reads). Random strings stay plain: the
// prefix lengths would only add to them.
bool SharesPrefixesWithNeighbours(const arrow::Array& sample) {
  constexpr double kMinShare = 0.5;
  switch (sample.type()->id()) {
    case arrow::Type::STRING:
    case arrow::Type::BINARY:
      return SharedPrefixShare(static_cast<const arrow::BinaryArray&>(sample)) >= kMinShare;
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY:
      return SharedPrefixShare(static_cast<const arrow::LargeBinaryArray&>(sample)) >=
             kMinShare;
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
  if (HasNarrowDeltas(sample)) return parquet::Encoding::DELTA_BINARY_PACKED;
  if (SharesPrefixesWithNeighbours(sample)) return parquet::Encoding::DELTA_BYTE_ARRAY;
  return parquet::Encoding::PLAIN;
}

// How the columns without a dictionary are written: those whose first rows are at least
// 90% distinct. Their dictionary would overflow its page within the first row group
// (131,072 rows of even 4-byte values at 90% distinct need 460 KiB), so Parquet would
// hash every value into it until it falls back to plain encoding, and keep the useless
// dictionary page. Narrow integers, booleans and nested columns keep Parquet's default.
struct UndictionariedColumn {
  std::string name;
  parquet::Encoding::type encoding;
};
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

// The minimum and maximum of one top-level column over a finished file's row groups,
// from the statistics the Parquet writer kept (no second pass over the data). Null when
// a row group holding values states none (a value over Parquet's statistics size, or
// only NaNs) or states inexact ones: Delta's bounds must hold every row.
struct Bounds {
  std::shared_ptr<arrow::Scalar> min, max;
};
Bounds FileBounds(const parquet::FileMetaData& metadata, int leaf,
                  const std::shared_ptr<arrow::DataType>& type) {
  std::vector<std::shared_ptr<arrow::Scalar>> mins, maxs;
  auto as_type = [&](std::shared_ptr<arrow::Scalar> scalar) -> std::shared_ptr<arrow::Scalar> {
    if (!scalar || scalar->type->Equals(*type)) return scalar;
    auto cast = arrow::compute::Cast(arrow::Datum(scalar), type);
    return cast.ok() ? cast->scalar() : nullptr;
  };
  for (int g = 0; g < metadata.num_row_groups(); ++g) {
    auto chunk = metadata.RowGroup(g)->ColumnChunk(leaf);
    if (chunk->num_values() == 0) continue;
    auto stats = chunk->is_stats_set() ? chunk->statistics() : nullptr;
    if (!stats) return {};
    if (!stats->HasMinMax()) {
      if (stats->HasNullCount() && stats->null_count() == chunk->num_values()) continue;
      return {};
    }
    if (stats->is_min_value_exact() == false || stats->is_max_value_exact() == false) {
      return {};
    }
    std::shared_ptr<arrow::Scalar> min, max;
    if (!parquet::arrow::StatisticsAsScalars(*stats, &min, &max).ok()) return {};
    min = as_type(std::move(min));
    max = as_type(std::move(max));
    if (!min || !max || !min->is_valid || !max->is_valid) return {};
    mins.push_back(std::move(min));
    maxs.push_back(std::move(max));
  }
  return {Combine(mins, false), Combine(maxs, true)};
}

}  // namespace

std::string EscapePartitionValue(const std::string& value) {
  // The folder of null values: the text itself gets another name.
  if (value == "__HIVE_DEFAULT_PARTITION__") return "%5F_HIVE_DEFAULT_PARTITION__";
  return PercentEncode(value, "._-");
}

arrow::Result<std::unique_ptr<DataFileWriter>> DataFileWriter::Open(
    objectstore::ObjectStore* store, std::string key, std::shared_ptr<arrow::Schema> schema,
    const config::LakeConfig& lake, PartitionValues partition_values,
    const arrow::RecordBatch& first_rows) {
  ARROW_ASSIGN_OR_RAISE(auto codec, CodecOf(lake.compression));
  ARROW_RETURN_NOT_OK(EnsureComputeKernels());
  std::unique_ptr<DataFileWriter> file(new DataFileWriter());
  file->store_ = store;
  file->key_ = std::move(key);
  file->schema_ = schema;
  file->partition_values_ = std::move(partition_values);
  file->null_counts_.assign(static_cast<size_t>(schema->num_fields()), 0);
  ARROW_ASSIGN_OR_RAISE(file->sink_, store->OpenUpload(file->key_));
  // Dictionaries pay for repeated values; a row group of unique ids or measurements would
  // fill a 1 MiB dictionary page exactly (131,072 eight-byte values) and never fall back,
  // hashing every value for nothing. Columns whose first rows are (nearly) unique are
  // written without one from the start (plain, or delta encoded when their neighbours
  // differ little); a smaller dictionary page makes the others fall back early when they
  // turn out unique later, and keeps dictionaries for repetitive ones.
  parquet::WriterProperties::Builder builder;
  builder.compression(codec)
      ->max_row_group_length(kRowGroupRows)
      ->dictionary_pagesize_limit(kDictionaryPageBytes);
  for (const auto& column : UndictionariedColumns(first_rows, lake.delta_encodings)) {
    builder.disable_dictionary(column.name)->encoding(column.name, column.encoding);
  }
  auto properties = builder.build();
  // Spark and older readers read INT96-free, microsecond timestamps; the Arrow schema is
  // not stored (Delta's schemaString is the schema).
  // Columns are encoded and compressed on Arrow's CPU pool, several at once.
  auto arrow_properties = parquet::ArrowWriterProperties::Builder()
                              .coerce_timestamps(arrow::TimeUnit::MICRO)
                              ->set_use_threads(true)
                              ->build();
  auto writer = parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(),
                                                 file->sink_, properties, arrow_properties);
  if (!writer.ok()) {
    (void)file->sink_->Abort();
    return writer.status();
  }
  file->writer_ = std::move(*writer);
  return file;
}

DataFileWriter::~DataFileWriter() {
  if (!closed_) Abort();
}

arrow::Status DataFileWriter::Write(const arrow::RecordBatch& batch) {
  ARROW_RETURN_NOT_OK(writer_->WriteRecordBatch(batch));
  rows_ += batch.num_rows();
  for (int i = 0; i < batch.num_columns(); ++i) {
    null_counts_[i] += batch.column(i)->null_count();
  }
  return arrow::Status::OK();
}

int64_t DataFileWriter::bytes_written() const {
  auto position = sink_->Tell();
  return position.ok() ? *position : 0;
}

std::string DataFileWriter::StatsJson(const parquet::FileMetaData& metadata) const {
  json min_values = json::object(), max_values = json::object(), null_count = json::object();
  for (int i = 0; i < schema_->num_fields(); ++i) {
    const auto& field = schema_->field(i);
    if (field->type()->id() != arrow::Type::STRUCT) {
      null_count[field->name()] = null_counts_[i];
    }
  }
  // Bounds of the top-level primitive columns, each a Parquet leaf of its own.
  const parquet::SchemaDescriptor* leaves = metadata.schema();
  for (int leaf = 0; leaf < leaves->num_columns(); ++leaf) {
    const parquet::schema::Node* root = leaves->GetColumnRoot(leaf);
    if (!root->is_primitive()) continue;
    const int i = leaves->group_node()->FieldIndex(*root);
    if (i < 0 || i >= schema_->num_fields()) continue;
    const auto& field = schema_->field(i);
    if (!HasMinMax(*field->type())) continue;
    auto [min, max] = FileBounds(metadata, leaf, field->type());
    if (!min || !max) continue;
    json lo = StatValue(*min, false), hi = StatValue(*max, true);
    if (lo.is_null() || hi.is_null()) continue;
    min_values[field->name()] = std::move(lo);
    max_values[field->name()] = std::move(hi);
  }
  return JsonText(json{{"numRecords", rows_},
                       {"minValues", min_values},
                       {"maxValues", max_values},
                       {"nullCount", null_count}});
}

arrow::Result<AddFile> DataFileWriter::Close() {
  closed_ = true;
  auto st = writer_->Close();
  // The footer the writer kept: its row groups' statistics are the file's bounds.
  std::shared_ptr<parquet::FileMetaData> metadata;
  if (st.ok()) {
    metadata = writer_->metadata();
    if (!metadata) st = arrow::Status::IOError("the Parquet writer kept no footer");
  }
  int64_t size = 0;
  if (st.ok()) {
    auto position = sink_->Tell();
    st = position.status();
    if (st.ok()) size = *position;
  }
  if (st.ok()) st = sink_->Close();
  if (!st.ok()) {
    (void)sink_->Abort();
    return st.WithMessage("writing ", store_->url(), "/", key_, ": ", st.message());
  }
  AddFile add;
  add.path = PathOfKey(key_);
  add.partition_values = partition_values_;
  add.size = size;
  add.modification_time = NowMs();
  add.data_change = true;
  add.stats = StatsJson(*metadata);
  add.num_records = rows_;
  return add;
}

void DataFileWriter::Abort() {
  if (closed_) return;
  closed_ = true;
  // The Parquet writer would write a footer on destruction: release it unclosed into
  // the aborted stream.
  if (sink_) (void)sink_->Abort();
  writer_.reset();
}

}  // namespace arrowport::lake
