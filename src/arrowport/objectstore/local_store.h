#pragma once

#include <memory>
#include <string>
#include <vector>

#include "arrowport/objectstore/object_store.h"

namespace arrowport::objectstore {

/// \brief An object store on a local directory (file:///dir): key "a/b" is the file
/// DIR/a/b, directories created as needed. Writes are durable and atomic (a temporary
/// file in the same directory, fsync, rename or link, fsync of the directory), so readers
/// never see a partial object. Thread-safe; several processes may share the directory.
/// Unlike S3, a key cannot be both an object and the start of others ("a" and "a/b"):
/// the second write fails with IOError.
class LocalStore final : public ObjectStore {
 public:
  /// The store rooted at `root` (an absolute path), created if missing.
  static arrow::Result<std::shared_ptr<LocalStore>> Make(const std::string& root);

  std::string url() const override { return "file://" + root_; }
  /// The directory (absolute, no trailing '/').
  const std::string& root() const { return root_; }

  arrow::Result<std::shared_ptr<arrow::Buffer>> Get(const std::string& key) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> GetRange(const std::string& key,
                                                         int64_t offset,
                                                         int64_t length) override;
  arrow::Result<ObjectInfo> Head(const std::string& key) override;
  /// Walks only the directories the prefix can reach; never lists temporary files of
  /// writes in progress.
  arrow::Result<std::vector<ObjectInfo>> List(
      const std::string& prefix, const std::string& start_after = "") override;
  arrow::Status Put(const std::string& key, std::shared_ptr<arrow::Buffer> data) override;
  arrow::Status PutIfAbsent(const std::string& key,
                            std::shared_ptr<arrow::Buffer> data) override;
  /// Also removes directories the deletion left empty (up to the root).
  arrow::Status Delete(const std::string& key) override;
  /// Writes a hidden temporary file beside the object, renamed into place by Close().
  arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenUpload(
      const std::string& key) override;
  /// An arrow::io::ReadableFile.
  arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenRead(
      const std::string& key) override;
  /// The free space of the directory's file system (statvfs: f_bavail).
  std::optional<int64_t> AvailableBytes() const override;

 private:
  arrow::Status CheckInsideRoot(const std::string& key) const;
  explicit LocalStore(std::string root) : root_(std::move(root)) {}

  std::string PathOf(const std::string& key) const { return root_ + "/" + key; }
  arrow::Status NotFound(const std::string& key) const;
  /// Reads [offset, offset + length) of the key's file; length < 0: to its end.
  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadFile(const std::string& key,
                                                         int64_t offset, int64_t length);

  std::string root_;
};

}  // namespace arrowport::objectstore
