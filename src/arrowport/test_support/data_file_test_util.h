#pragma once

// Test support (header only): writing one data file with DataFileWriter into a temporary
// directory and reading it back, for the data file tests.

#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include <algorithm>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrow/api.h"
#include "arrow/compute/cast.h"
#include "arrowport/lake/data_file_writer.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake::testing {

struct WrittenFile {
  AddFile add;
  nlohmann::json stats;
  std::shared_ptr<parquet::FileMetaData> metadata;
};

inline WrittenFile WriteFile(const TempDir& dir,
                      const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                      const config::LakeConfig& lake = {}) {
  auto store = objectstore::OpenObjectStore(dir.url(), {}).ValueOrDie();
  auto file = DataFileWriter::Open(store.get(), "part-0.zstd.parquet",
                                   batches.front()->schema(), lake, {}, *batches.front())
                  .ValueOrDie();
  for (const auto& batch : batches) EXPECT_TRUE(file->Write(*batch).ok());
  WrittenFile written;
  written.add = file->Close().ValueOrDie();
  written.stats = nlohmann::json::parse(written.add.stats);
  auto input = store->OpenRead("part-0.zstd.parquet").ValueOrDie();
  written.metadata = parquet::ParquetFileReader::Open(input)->metadata();
  return written;
}

// The file WriteFile wrote, read back by Arrow's Parquet reader (null if it cannot be).
inline std::shared_ptr<arrow::Table> ReadBack(const TempDir& dir) {
  auto store = objectstore::OpenObjectStore(dir.url(), {}).ValueOrDie();
  auto reader = parquet::arrow::OpenFile(store->OpenRead("part-0.zstd.parquet").ValueOrDie(),
                                         arrow::default_memory_pool());
  std::shared_ptr<arrow::Table> table;
  if (!reader.ok() || !(*reader)->ReadTable(&table).ok()) return nullptr;
  return table;
}

// Each column of `back` equals `batch`'s, read as its type (the Arrow schema is not
// stored: large strings come back as strings, seconds as microseconds).
inline void ExpectColumnsEqual(const arrow::Table& back, const arrow::RecordBatch& batch) {
  ASSERT_EQ(back.num_rows(), batch.num_rows());
  for (int i = 0; i < batch.num_columns(); ++i) {
    auto column = arrow::compute::Cast(back.column(i), batch.column(i)->type()).ValueOrDie();
    EXPECT_TRUE(column.chunked_array()->Equals(
        *arrow::ChunkedArray::Make({batch.column(i)}).ValueOrDie()))
        << batch.schema()->field(i)->name();
  }
}

inline bool HasEncoding(const parquet::ColumnChunkMetaData& column, parquet::Encoding::type wanted) {
  const auto& encodings = column.encodings();
  return std::find(encodings.begin(), encodings.end(), wanted) != encodings.end();
}

inline bool DictionaryEncoded(const parquet::ColumnChunkMetaData& column) {
  return HasEncoding(column, parquet::Encoding::PLAIN_DICTIONARY) ||
         HasEncoding(column, parquet::Encoding::RLE_DICTIONARY);
}

// Unique values are written plain from the first row: hashing them into a dictionary that
// overflows its page only costs. Repetitive columns keep their dictionary.
}  // namespace arrowport::lake::testing
