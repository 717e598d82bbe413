#include "arrowport/objectstore/object_store.h"

#include <string_view>

#include "arrowport/objectstore/local_store.h"
#include "arrowport/objectstore/s3_store.h"

namespace arrowport::objectstore {

namespace {

constexpr size_t kMaxKeyBytes = 1024;  // S3's limit, applied to every store alike

// Why `segment` cannot be part of a key, or null.
const char* SegmentProblem(std::string_view segment) {
  if (segment.empty()) return "an empty segment (leading, trailing or doubled '/')";
  if (segment == "." || segment == "..") return "a '.' or '..' segment";
  return nullptr;
}

arrow::Status CheckSegments(std::string_view what, const std::string& text,
                            std::string_view complete) {
  size_t start = 0;
  while (start <= complete.size()) {
    size_t end = complete.find('/', start);
    if (end == std::string_view::npos) end = complete.size();
    if (const char* problem = SegmentProblem(complete.substr(start, end - start))) {
      return arrow::Status::Invalid("object ", what, " '", text, "' has ", problem);
    }
    start = end + 1;
  }
  return arrow::Status::OK();
}

bool IsBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) {
      return false;
    }
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(name.front()) && alnum(name.back());
}

arrow::Result<std::shared_ptr<ObjectStore>> OpenS3(const std::string& url,
                                                   std::string_view rest,
                                                   const S3Settings& s3) {
  const size_t slash = rest.find('/');
  const std::string bucket(rest.substr(0, slash));
  std::string prefix(slash == std::string_view::npos ? "" : rest.substr(slash + 1));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!IsBucketName(bucket)) {
    return arrow::Status::Invalid(
        "object store URL '", url, "': '", bucket,
        "' is not an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')");
  }
  if (!prefix.empty()) {
    auto valid = ValidateKey(prefix);
    if (!valid.ok()) {
      return arrow::Status::Invalid("object store URL '", url,
                                    "': the prefix is not a key: ", valid.message());
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto store, S3Store::Make(bucket, prefix, s3));
  return std::shared_ptr<ObjectStore>(std::move(store));
}

}  // namespace

bool IsAlreadyExists(const arrow::Status& status) { return status.IsAlreadyExists(); }

arrow::Status AlreadyExists(const std::string& key) {
  return arrow::Status::AlreadyExists("object '", key, "' already exists");
}

arrow::Status ValidateKey(const std::string& key) {
  if (key.empty()) return arrow::Status::Invalid("object key is empty");
  if (key.size() > kMaxKeyBytes) {
    return arrow::Status::Invalid("object key '", key.substr(0, 64),
                                  "...' is longer than ", kMaxKeyBytes, " bytes");
  }
  if (key.find('\0') != std::string::npos) {
    return arrow::Status::Invalid("object key contains a NUL byte");
  }
  return CheckSegments("key", key, key);
}

arrow::Status ValidatePrefix(const std::string& prefix) {
  if (prefix.size() > kMaxKeyBytes) {
    return arrow::Status::Invalid("object prefix is longer than ", kMaxKeyBytes,
                                  " bytes");
  }
  if (prefix.find('\0') != std::string::npos) {
    return arrow::Status::Invalid("object prefix contains a NUL byte");
  }
  const size_t last_slash = prefix.rfind('/');
  if (last_slash == std::string::npos) return arrow::Status::OK();
  return CheckSegments("prefix", prefix, std::string_view(prefix).substr(0, last_slash));
}

arrow::Result<std::shared_ptr<ObjectStore>> OpenObjectStore(const std::string& url,
                                                            const S3Settings& s3) {
  const std::string_view view(url);
  constexpr std::string_view kFile = "file://";
  constexpr std::string_view kS3 = "s3://";
  if (view.starts_with(kFile)) {
    const std::string_view path = view.substr(kFile.size());
    if (!path.starts_with('/')) {
      return arrow::Status::Invalid(
          "object store URL '", url,
          "' is not file:///absolute/dir (three slashes; no host, "
          "no relative path)");
    }
    ARROW_ASSIGN_OR_RAISE(auto store, LocalStore::Make(std::string(path)));
    return std::shared_ptr<ObjectStore>(std::move(store));
  }
  if (view.starts_with(kS3)) return OpenS3(url, view.substr(kS3.size()), s3);
  return arrow::Status::Invalid(
      "object store URL '", url,
      "' is neither file:///absolute/dir nor s3://bucket/prefix");
}

}  // namespace arrowport::objectstore
