#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/config/config.h"
#include "arrowport/lake/delta_log.h"
#include "arrowport/lake/lake_files.h"
#include "arrowport/objectstore/object_store.h"

namespace parquet {
class FileMetaData;
namespace arrow {
class FileWriter;
}  // namespace arrow
}  // namespace parquet

namespace arrowport::lake {

/// \brief One Parquet data file of a Delta table being written: streamed to the store as
/// batches come (an S3 multipart upload: memory stays at a row group and a part), with
/// the statistics its `add` action carries (numRecords, minValues, maxValues,
/// nullCount of the top-level columns). Used by one thread.
class DataFileWriter {
 public:
  /// `key`: the object's key under the table root; `schema`: the file's columns (the
  /// table's without its partition columns); `lake`: the table's settings (compression:
  /// zstd, snappy, gzip, lz4 or none; delta_encodings); `first_rows`: the first batch to
  /// be written, whose (nearly) unique columns are written without a Parquet dictionary
  /// (and delta encoded where that pays and `lake.delta_encodings` allows), for the whole
  /// file.
  static arrow::Result<std::unique_ptr<DataFileWriter>> Open(
      objectstore::ObjectStore* store, std::string key, std::shared_ptr<arrow::Schema> schema,
      const config::LakeConfig& lake, PartitionValues partition_values,
      const arrow::RecordBatch& first_rows);
  ~DataFileWriter();

  arrow::Status Write(const arrow::RecordBatch& batch);
  /// Bytes the store has received (complete row groups).
  int64_t bytes_written() const;
  int64_t rows() const { return rows_; }
  const std::string& key() const { return key_; }

  /// Finishes the file; the returned action adds it (dataChange true).
  arrow::Result<AddFile> Close();
  /// Discards what was written (an unfinished upload leaves nothing behind).
  void Abort();

 private:
  DataFileWriter() = default;
  std::string StatsJson(const parquet::FileMetaData& metadata) const;

  objectstore::ObjectStore* store_ = nullptr;
  std::string key_;
  std::shared_ptr<arrow::Schema> schema_;
  PartitionValues partition_values_;
  std::shared_ptr<arrow::io::OutputStream> sink_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  int64_t rows_ = 0;
  bool closed_ = false;
  // Per column: nulls (the bounds come from the Parquet footer at Close).
  std::vector<int64_t> null_counts_;
  // DuckLake tables: each column's exact bounds and NaNs, from the batches written
  // (DuckLake readers trust a table's bounds; Parquet's footer may state none).
  bool ducklake_ = false;
  struct Running {
    std::shared_ptr<arrow::Scalar> min, max;
    bool unknown = false;
    bool nan = false;
  };
  std::vector<Running> running_;
  arrow::Status Track(const arrow::RecordBatch& batch);
  std::vector<FileColumnStats> DuckLakeStats(const parquet::FileMetaData& metadata) const;
};

/// The file-name-safe form of a partition value in a hive-style folder name
/// (`day=2024-01-31`): bytes outside [A-Za-z0-9._-] become %XX.
std::string EscapePartitionValue(const std::string& value);

}  // namespace arrowport::lake
