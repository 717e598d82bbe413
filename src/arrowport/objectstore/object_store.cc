#include "arrowport/objectstore/object_store.h"

#include <string_view>

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

}  // namespace arrowport::objectstore
