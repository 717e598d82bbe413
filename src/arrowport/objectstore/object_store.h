#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/buffer.h"
#include "arrow/io/interfaces.h"
#include "arrow/result.h"
#include "arrow/status.h"
#include "arrowport/common/call_cancellation.h"

namespace arrowport::objectstore {

/// One object of a listing.
struct ObjectInfo {
  std::string key;  ///< relative to the store's root, '/'-separated
  int64_t size = 0;
  int64_t modified_ms = 0;  ///< last modification, milliseconds since the epoch
};

/// S3 settings (config key `s3`). Never logged.
///
/// access_key_id empty: the standard AWS environment variables AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; none set either: requests go unsigned
/// (public buckets). region empty: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
struct S3Settings {
  std::string endpoint;              ///< "http://127.0.0.1:9000"; empty: AWS
                                     ///< (https://s3.REGION.amazonaws.com)
  std::string region = "us-east-1";  ///< signing region (SigV4)
  bool path_style = true;            ///< url_style: path (bucket in the path) or vhost
  std::string ca_file;               ///< PEM CA bundle for https endpoints; empty: system
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  int64_t part_bytes = int64_t{8} << 20;  ///< multipart upload part size (>= 5 MiB)
  /// One request: connecting, and any stall (no byte moving) during its transfer. A
  /// large transfer that keeps moving is not cut off.
  int64_t timeout_ms = 30000;
  int retries = 3;  ///< transient failures (5xx, connection) retried
  /// s3.call_timeout_ms: the most one store call (one Get, Put, List page, upload part...)
  /// takes in all, its retries and their pauses included; a store that trickles bytes
  /// or answers 5xx for ever cannot hold a caller longer.
  int64_t call_timeout_ms = 120000;
  /// The server's own cancellation (may be null): cancelled when the server stops, it
  /// ends every transfer at once and refuses new ones, whichever thread runs them
  /// (background upkeep, DuckDB reading lake files, cleanup of a failed write). A call's
  /// own cancellation reaches the store through ThreadCancellationScope.
  std::shared_ptr<CallCancellation> stop;
  /// s3.conditional_writes: `trust` skips the lake's probe that the store honours
  /// `If-None-Match: *` (LakeTable::CheckConditionalWrites); `probe` (default) runs it.
  bool trust_conditional_writes = false;
};

/// \brief A flat key-value store of immutable objects: a local directory (file://) or an
/// S3 bucket prefix (s3://bucket/prefix). Thread-safe. Keys are '/'-separated segments
/// (see ValidateKey): never a leading or trailing '/', an empty, "." or ".." segment, or
/// a NUL byte; every method taking a key refuses others with Invalid.
///
/// Errors: a missing object is arrow::Status::KeyError (IsKeyError); put-if-absent losing
/// to an existing object is arrow::StatusCode::AlreadyExists (see IsAlreadyExists);
/// the store unreachable, a missing bucket or refused credentials are IOError whose
/// message says which (and never contains a secret).
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  /// "file:///dir" or "s3://bucket/prefix" (without secrets), for messages.
  virtual std::string url() const = 0;

  /// The whole object.
  virtual arrow::Result<std::shared_ptr<arrow::Buffer>> Get(const std::string& key) = 0;
  /// Bytes [offset, offset + length) of the object (fewer at its end).
  virtual arrow::Result<std::shared_ptr<arrow::Buffer>> GetRange(const std::string& key,
                                                                 int64_t offset,
                                                                 int64_t length) = 0;
  /// Size and modification time.
  virtual arrow::Result<ObjectInfo> Head(const std::string& key) = 0;
  /// Every object whose key starts with `prefix`, sorted by key. `start_after`: only keys
  /// greater than it (S3 ListObjectsV2 StartAfter), so a log listing reads only its tail.
  virtual arrow::Result<std::vector<ObjectInfo>> List(
      const std::string& prefix, const std::string& start_after = "") = 0;
  /// Writes the object (replacing one of the same key), durably before returning.
  virtual arrow::Status Put(const std::string& key,
                            std::shared_ptr<arrow::Buffer> data) = 0;
  /// Creates the object only if no object has that key, atomically with respect to every
  /// other writer (S3 `If-None-Match: *`; link() on a directory). Loses: AlreadyExists.
  virtual arrow::Status PutIfAbsent(const std::string& key,
                                    std::shared_ptr<arrow::Buffer> data) = 0;
  /// Removes the object; a missing object is not an error.
  virtual arrow::Status Delete(const std::string& key) = 0;
  /// A streaming writer of a new object: S3 multipart upload (parts of part_bytes, so
  /// memory stays bounded), a file on a directory. The object exists only after Close()
  /// returns OK; Abort() (or destruction without Close) discards what was written.
  virtual arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenUpload(
      const std::string& key) = 0;
  /// A random-access reader of the object (ranged GETs on S3), for Parquet readers.
  virtual arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenRead(
      const std::string& key) = 0;
  /// The same for an object whose size the caller already knows (a lake log names each
  /// data file's, checked against the store when the log adds the file): a store that
  /// would ask for it (S3: a HEAD per open) does not.
  virtual arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenReadOfSize(
      const std::string& key, int64_t size) {
    (void)size;
    return OpenRead(key);
  }
  /// Whether PutIfAbsent rests on a server's promise that should be probed before it is
  /// relied on (S3 `If-None-Match: *`, which some S3-compatible stores ignore) rather
  /// than on this process's own file system.
  virtual bool NeedsConditionalWriteProbe() const { return false; }
  /// Bytes the store can still take, where it can say: a directory's file system (the
  /// space an unprivileged writer may use). std::nullopt where it cannot (S3 has no such
  /// question) or the answer failed.
  virtual std::optional<int64_t> AvailableBytes() const { return std::nullopt; }
};

/// True for the error PutIfAbsent returns when the key already exists.
bool IsAlreadyExists(const arrow::Status& status);
/// That error (arrow::StatusCode::AlreadyExists), naming `key`.
arrow::Status AlreadyExists(const std::string& key);

/// OK when `key` is a valid object key: 1 to 1024 bytes of '/'-separated segments, none
/// of them empty, "." or ".." (so no leading, trailing or doubled '/'), and no NUL byte.
/// Invalid otherwise, naming the key and the rule.
arrow::Status ValidateKey(const std::string& key);

/// OK when `prefix` can start keys (List): empty, or ValidateKey's rules for every
/// complete segment (the part after the last '/' may be any partial segment).
arrow::Status ValidatePrefix(const std::string& prefix);

}  // namespace arrowport::objectstore
