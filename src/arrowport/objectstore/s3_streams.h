#pragma once

// Internal to objectstore: S3Store's streaming reader and writer.

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "arrow/buffer_builder.h"
#include "arrow/io/interfaces.h"
#include "arrowport/objectstore/s3_client.h"

namespace arrowport::objectstore {

/// Bytes [offset, offset + length) of `key` (the full key in the bucket; length > 0),
/// fewer at the object's end, none past it; KeyError when the object does not exist.
arrow::Result<std::shared_ptr<arrow::Buffer>> RangedGet(S3Client& client,
                                                        const std::string& key,
                                                        int64_t offset, int64_t length);

/// \brief Reads one object by ranged GETs, its size known from one HEAD. ReadAt is
/// thread-safe; Read/Seek/Tell share a position (one reader at a time).
class S3ReadFile final : public arrow::io::RandomAccessFile {
 public:
  /// HEADs `key` (the full key in the bucket): KeyError when it does not exist.
  static arrow::Result<std::shared_ptr<S3ReadFile>> Open(std::shared_ptr<S3Client> client,
                                                         std::string key);
  /// Without the HEAD: `size` is known already.
  static std::shared_ptr<S3ReadFile> OfSize(std::shared_ptr<S3Client> client, std::string key,
                                            int64_t size);

  arrow::Status Close() override;
  bool closed() const override { return closed_.load(); }
  arrow::Result<int64_t> Tell() const override;
  arrow::Status Seek(int64_t position) override;
  arrow::Result<int64_t> GetSize() override;
  arrow::Result<int64_t> Read(int64_t nbytes, void* out) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override;
  arrow::Result<int64_t> ReadAt(int64_t position, int64_t nbytes, void* out) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadAt(int64_t position,
                                                       int64_t nbytes) override;

 private:
  S3ReadFile(std::shared_ptr<S3Client> client, std::string key, int64_t size)
      : client_(std::move(client)), key_(std::move(key)), size_(size) {}

  std::shared_ptr<S3Client> client_;
  const std::string key_;
  const int64_t size_;
  std::atomic<int64_t> position_{0};
  std::atomic<bool> closed_{false};
};

/// \brief Writes one object: buffered up to one part, then a multipart upload whose
/// parts are sent one at a time on a thread of their own while the next one fills (two
/// parts of memory at most). Not thread-safe (one writer).
class S3Upload final : public arrow::io::OutputStream {
 public:
  /// `key` is the full key in the bucket.
  S3Upload(std::shared_ptr<S3Client> client, std::string key);
  /// Aborts a multipart upload left open (best effort: the bucket's lifecycle rules
  /// collect what a failed abort leaves).
  ~S3Upload() override;

  arrow::Status Write(const void* data, int64_t nbytes) override;
  /// Sends what is buffered (one PUT, or the last part) and completes the upload: the
  /// object exists once this returns OK.
  arrow::Status Close() override;
  /// Discards what was written (AbortMultipartUpload).
  arrow::Status Abort() override;
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return position_; }

 private:
  /// Hands the buffered bytes to a thread of their own as the next part, after the part
  /// before it is through: the writer fills the next part while this one travels.
  arrow::Status UploadPart();
  /// Waits for the part in flight (if any); its failure becomes the stream's.
  arrow::Status AwaitPart();
  arrow::Status Complete();
  arrow::Status AbortUpload();
  /// Records `status` as the stream's failure (Write and Close then return it).
  arrow::Status Fail(arrow::Status status);

  std::shared_ptr<S3Client> client_;
  const std::string key_;
  const int64_t part_bytes_;
  arrow::BufferBuilder buffer_;  // the part being filled: at most one part
  std::string upload_id_;        // empty until the first part is sent
  // One ETag per part sent; the part in flight fills its own slot, and no other part is
  // sent (nor the vector touched) until it is through.
  std::vector<std::string> etags_;
  std::future<arrow::Status> in_flight_;  // the part being sent (holds its own bytes)
  int64_t position_ = 0;
  bool closed_ = false;
  arrow::Status failure_;
};

}  // namespace arrowport::objectstore
