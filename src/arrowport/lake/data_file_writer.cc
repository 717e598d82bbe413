#include "arrowport/lake/data_file_writer.h"
#include "arrowport/lake/ducklake_types.h"
#include "arrowport/lake/column_encodings.h"
#include "arrowport/lake/json_text.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/metadata.h>
#include <parquet/properties.h>
#include <parquet/statistics.h>

#include "arrow/array.h"
#include "arrow/builder.h"
#include "arrow/compute/api.h"
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
// Strings longer than this get no min/max (a truncated max would not bound the column).
constexpr size_t kMaxStatsString = 64;

bool IsFloating(arrow::Type::type id) {
  return id == arrow::Type::FLOAT || id == arrow::Type::DOUBLE;
}

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
  file->ducklake_ = lake.format == config::LakeFormat::kDuckLake;
  file->running_.resize(static_cast<size_t>(schema->num_fields()));
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
  // Parquet's float bounds leave NaN out, and DuckDB (NaN above every number) skips row
  // groups by them: `x > 5` would miss a NaN row. Float columns get no footer bounds.
  for (const auto& field : schema->fields()) {
    const auto id = field->type()->id();
    if (id == arrow::Type::FLOAT || id == arrow::Type::DOUBLE || id == arrow::Type::HALF_FLOAT) {
      builder.disable_statistics(field->name());
    }
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
  ARROW_RETURN_NOT_OK(Track(batch));
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
    if (IsFloating(field->type()->id())) {
      // No footer bounds for floats (Open): the batches' own, none when a NaN is there
      // (readers take NaN as above every number; bounds without it would skip it).
      const Running& column = running_[static_cast<size_t>(i)];
      if (column.nan || column.unknown) continue;
      min = column.min;
      max = column.max;
    }
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
  if (ducklake_) {
    add.column_stats = DuckLakeStats(*metadata);
    // The Thrift footer's length (what precedes the file's last 8 bytes): the metadata
    // the writer kept serialises to the same bytes.
    add.footer_size = static_cast<int64_t>(metadata->SerializeToString().size());
  }
  return add;
}

arrow::Status DataFileWriter::Track(const arrow::RecordBatch& batch) {
  for (int i = 0; i < batch.num_columns(); ++i) {
    Running& column = running_[static_cast<size_t>(i)];
    const auto& values = batch.column(i);
    if (column.unknown || values->null_count() == values->length()) continue;
    const auto id = values->type_id();
    // A Delta file's only batch-computed bounds are its floats' (the footer states none).
    if (!ducklake_ && !IsFloating(id)) continue;
    if (id == arrow::Type::FLOAT || id == arrow::Type::DOUBLE) {
      if (!column.nan) {
        ARROW_ASSIGN_OR_RAISE(auto nans, arrow::compute::CallFunction("is_nan", {values}));
        ARROW_ASSIGN_OR_RAISE(auto any, arrow::compute::Any(nans));
        const auto& found = any.scalar_as<arrow::BooleanScalar>();
        column.nan |= found.is_valid && found.value;
      }
    }
    // The footer's statistics bound these (Close): no second pass over their values.
    if (HasMinMax(*values->type()) && !IsFloating(id)) continue;
    auto bounds = arrow::compute::MinMax(values);
    if (!bounds.ok()) {
      column.unknown = true;  // a type without an order: no bounds
      continue;
    }
    const auto& pair = bounds->scalar_as<arrow::StructScalar>();
    auto lo = pair.value[0], hi = pair.value[1];
    if (!lo->is_valid || !hi->is_valid) continue;  // only NaNs
    if (id == arrow::Type::FLOAT || id == arrow::Type::DOUBLE) {
      // MinMax keeps NaN out unless a batch holds nothing else.
      const double l = id == arrow::Type::FLOAT ? static_cast<const arrow::FloatScalar&>(*lo).value
                                                : static_cast<const arrow::DoubleScalar&>(*lo).value;
      if (std::isnan(l)) continue;
    }
    if (!column.min) {
      column.min = lo;
      column.max = hi;
      continue;
    }
    column.min = Combine({column.min, lo}, false);
    column.max = Combine({column.max, hi}, true);
    if (!column.min || !column.max) column.unknown = true;
  }
  return arrow::Status::OK();
}

std::vector<FileColumnStats> DataFileWriter::DuckLakeStats(
    const parquet::FileMetaData& metadata) const {
  std::vector<FileColumnStats> out;
  const parquet::SchemaDescriptor* leaves = metadata.schema();
  for (int i = 0; i < schema_->num_fields(); ++i) {
    FileColumnStats stats;
    stats.column = schema_->field(i)->name();
    stats.nulls = null_counts_[static_cast<size_t>(i)];
    stats.values = rows_ - stats.nulls;
    const Running& column = running_[static_cast<size_t>(i)];
    stats.contains_nan = column.nan;
    const auto& type = schema_->field(i)->type();
    if (HasMinMax(*type) && !IsFloating(type->id()) && stats.values > 0 &&
        i < leaves->num_columns()) {
      // Exact bounds from the footer (NaN left out, as DuckLake wants); none stated there
      // (a value over Parquet's statistics size): unknown.
      auto [min, max] = FileBounds(metadata, i, type);
      if (min && max) {
        stats.min = DuckLakeBoundText(*min, false);
        stats.max = DuckLakeBoundText(*max, true);
        if (!stats.min || !stats.max) stats.min = stats.max = std::nullopt;
      }
    } else if (!column.unknown && column.min && column.max) {
      stats.min = DuckLakeBoundText(*column.min, false);
      stats.max = DuckLakeBoundText(*column.max, true);
      if (!stats.min || !stats.max) stats.min = stats.max = std::nullopt;
    }
    // A flat schema: column i is leaf i.
    if (i < leaves->num_columns() && leaves->GetColumnRoot(i)->is_primitive()) {
      int64_t bytes = 0;
      for (int g = 0; g < metadata.num_row_groups(); ++g) {
        bytes += metadata.RowGroup(g)->ColumnChunk(i)->total_compressed_size();
      }
      stats.size_bytes = bytes;
    }
    out.push_back(std::move(stats));
  }
  return out;
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
