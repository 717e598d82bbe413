#pragma once

// Helpers of the lake unit tests: a table in a temporary directory and its rows read back
// with Arrow's own Parquet reader (not through the code under test).
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "arrow/api.h"
#include "arrowport/lake/lake_append.h"
#include "arrowport/lake/lake_table.h"
#include "arrowport/objectstore/open_store.h"

namespace arrowport::lake::testing {

/// A store that passes every call to `inner`: the base of the tests' stores that fail,
/// hang or fill up on cue, which override only those calls.
class ForwardingStore : public objectstore::ObjectStore {
 public:
  explicit ForwardingStore(std::shared_ptr<objectstore::ObjectStore> inner)
      : inner_(std::move(inner)) {}
  std::string url() const override { return inner_->url(); }
  arrow::Result<std::shared_ptr<arrow::Buffer>> Get(const std::string& key) override {
    return inner_->Get(key);
  }
  arrow::Result<std::shared_ptr<arrow::Buffer>> GetRange(const std::string& key,
                                                         int64_t offset,
                                                         int64_t length) override {
    return inner_->GetRange(key, offset, length);
  }
  arrow::Result<objectstore::ObjectInfo> Head(const std::string& key) override {
    return inner_->Head(key);
  }
  arrow::Result<std::vector<objectstore::ObjectInfo>> List(
      const std::string& prefix, const std::string& start_after) override {
    return inner_->List(prefix, start_after);
  }
  arrow::Status Put(const std::string& key, std::shared_ptr<arrow::Buffer> data) override {
    return inner_->Put(key, std::move(data));
  }
  arrow::Status PutIfAbsent(const std::string& key,
                            std::shared_ptr<arrow::Buffer> data) override {
    return inner_->PutIfAbsent(key, std::move(data));
  }
  arrow::Status Delete(const std::string& key) override { return inner_->Delete(key); }
  arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenUpload(
      const std::string& key) override {
    return inner_->OpenUpload(key);
  }
  arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenRead(
      const std::string& key) override {
    return inner_->OpenRead(key);
  }
  std::optional<int64_t> AvailableBytes() const override { return inner_->AvailableBytes(); }

 protected:
  std::shared_ptr<objectstore::ObjectStore> inner_;
};

class TempDir {
 public:
  TempDir() {
    std::string pattern = std::filesystem::temp_directory_path() / "arrowport-lake-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string url() const { return "file://" + path_; }

 private:
  std::string path_;
};

/// The seal key of the tests' tables: every table a test opens is a node of one
/// deployment (they share lake.commit_key_file).
inline std::shared_ptr<const SealKey> TestSealKey() {
  static const auto key =
      SealKey::FromSecret("arrowport unit tests' lake commit key", "test").ValueOrDie();
  return key;
}

/// A Delta table on `store` (as a node with the tests' key opens it).
inline std::shared_ptr<LakeTable> TableOn(std::shared_ptr<objectstore::ObjectStore> store,
                                          const config::LakeConfig& lake) {
  return std::make_shared<LakeTable>(store, lake, nullptr, nullptr,
                                     std::make_unique<DeltaLog>(store, TestSealKey()));
}

inline std::shared_ptr<LakeTable> OpenTable(const TempDir& dir, config::LakeConfig lake = {}) {
  lake.url = dir.url();
  return TableOn(objectstore::OpenObjectStore(lake.url, {}).ValueOrDie(), lake);
}

/// Rows of every live file of the latest snapshot (partition columns not included).
inline int64_t CountRows(LakeTable* table) {
  auto snapshot = table->Latest().ValueOrDie();
  int64_t rows = 0;
  for (const auto& [path, add] : snapshot->files) {
    auto file = table->store()->OpenRead(KeyOfPath(path)).ValueOrDie();
    auto reader = parquet::arrow::OpenFile(file, arrow::default_memory_pool()).ValueOrDie();
    rows += reader->parquet_reader()->metadata()->num_rows();
  }
  return rows;
}

/// A batch of ids [start, start + n), a value, and a day string cycling over `days`.
inline std::shared_ptr<arrow::RecordBatch> Batch(int64_t start, int64_t n, int days = 3) {
  arrow::Int64Builder ids;
  arrow::DoubleBuilder values;
  arrow::StringBuilder day;
  for (int64_t i = start; i < start + n; ++i) {
    (void)ids.Append(i);
    (void)values.Append(static_cast<double>(i) / 2);
    (void)day.Append("2024-01-0" + std::to_string(1 + i % days));
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()),
                               arrow::field("value", arrow::float64()),
                               arrow::field("day", arrow::utf8())});
  return arrow::RecordBatch::Make(schema, n,
                                  {ids.Finish().ValueOrDie(), values.Finish().ValueOrDie(),
                                   day.Finish().ValueOrDie()});
}

// A directory store that misbehaves on cue: a put-if-absent of a commit file that lands
// and then answers "already exists" (S3 after a lost answer and a retried PUT), deletes
// that fail (a store that does not answer).
class ScriptedStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  arrow::Status PutIfAbsent(const std::string& key,
                            std::shared_ptr<arrow::Buffer> data) override {
    ARROW_RETURN_NOT_OK(inner_->PutIfAbsent(key, std::move(data)));
    if (lose_next_ && key.find(".json") != std::string::npos) {
      lose_next_ = false;
      return objectstore::AlreadyExists(key);
    }
    return arrow::Status::OK();
  }
  arrow::Status Delete(const std::string& key) override {
    ++deletes_;
    if (fail_deletes_) return arrow::Status::IOError("scripted: the store does not answer");
    return inner_->Delete(key);
  }
  bool lose_next_ = false;
  bool fail_deletes_ = false;
  int deletes_ = 0;
};

// A table (partitioned as `lake` says) on a ScriptedStore in `dir`.
struct ScriptedTable {
  std::shared_ptr<ScriptedStore> store;
  std::shared_ptr<LakeTable> table;
};
inline ScriptedTable OpenScripted(const TempDir& dir, config::LakeConfig lake = {}) {
  auto store = std::make_shared<ScriptedStore>(
      objectstore::OpenObjectStore(dir.url(), {}).ValueOrDie());
  lake.url = dir.url();
  return {store, TableOn(store, lake)};
}

/// One request of `batches` (a request id commits it at txn version 0): its version, or
/// -1 when the request id was committed before.
inline arrow::Result<int64_t> Append(
    const std::shared_ptr<LakeTable>& table,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, AppendOptions options = {}) {
  LakeAppend append(table, options);
  ARROW_ASSIGN_OR_RAISE(auto prior, append.Start(*batches.front()->schema()));
  if (prior >= 0) return -1;
  for (const auto& batch : batches) ARROW_RETURN_NOT_OK(append.Write(*batch));
  return append.Commit(options.request_id.empty() ? -1 : 0);
}

}  // namespace arrowport::lake::testing
