#pragma once

#include <memory>
#include <string>
#include <vector>

#include "arrowport/objectstore/object_store.h"

namespace arrowport::objectstore {

class S3Client;

/// \brief An object store on an S3 bucket prefix (s3://bucket/prefix): key "a/b" is the
/// object "prefix/a/b". Requests are signed by libcurl (SigV4), sent over pooled
/// keep-alive connections and retried on connection failures and 5xx answers. Works with
/// AWS S3 and S3-compatible servers (MinIO, path-style URLs). Thread-safe.
class S3Store final : public ObjectStore {
 public:
  /// The store for `prefix` ("" or a valid key, no trailing '/') in `bucket`. Sends no
  /// request: a missing bucket or refused credentials show in the first operation.
  static arrow::Result<std::shared_ptr<S3Store>> Make(const std::string& bucket,
                                                      const std::string& prefix,
                                                      const S3Settings& settings);
  ~S3Store() override;

  std::string url() const override;

  arrow::Result<std::shared_ptr<arrow::Buffer>> Get(const std::string& key) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> GetRange(const std::string& key,
                                                         int64_t offset,
                                                         int64_t length) override;
  arrow::Result<ObjectInfo> Head(const std::string& key) override;
  /// ListObjectsV2, every page (continuation tokens), StartAfter on the first.
  arrow::Result<std::vector<ObjectInfo>> List(
      const std::string& prefix, const std::string& start_after = "") override;
  arrow::Status Put(const std::string& key, std::shared_ptr<arrow::Buffer> data) override;
  /// PUT with `If-None-Match: *`: S3's 412 Precondition Failed (or 409
  /// ConditionalRequestConflict, a concurrent conditional write in progress) is
  /// AlreadyExists once the object is read back (an earlier attempt of ours, retried by
  /// us or silently by libcurl, may have made it): exactly `data` counts as our own
  /// success, other bytes as AlreadyExists, and a read that fails (or finds nothing yet)
  /// as an IOError: no verdict, the caller must treat the write as possibly made.
  arrow::Status PutIfAbsent(const std::string& key,
                            std::shared_ptr<arrow::Buffer> data) override;
  arrow::Status Delete(const std::string& key) override;
  /// A multipart upload in parts of S3Settings::part_bytes, started when the first part
  /// is full (an object smaller than one part is a single PUT at Close()); Abort() or
  /// destruction without Close() aborts it. One writer at a time.
  arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenUpload(
      const std::string& key) override;
  /// Sizes the object with one HEAD; every read is a ranged GET. Thread-safe ReadAt.
  arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenRead(
      const std::string& key) override;
  arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenReadOfSize(
      const std::string& key, int64_t size) override;

  /// True unless S3Settings::trust_conditional_writes.
  bool NeedsConditionalWriteProbe() const override { return !trust_conditional_writes_; }

  /// Creates the bucket (setup and tests); one that already exists and is ours is OK.
  arrow::Status CreateBucket();

 private:
  S3Store(std::shared_ptr<S3Client> client, std::string prefix,
          bool trust_conditional_writes);
  /// The key in the bucket ("prefix/key").
  std::string FullKey(const std::string& key) const { return prefix_ + key; }

  std::shared_ptr<S3Client> client_;
  std::string prefix_;  // "" or ending in '/'
  bool trust_conditional_writes_;
};

}  // namespace arrowport::objectstore
