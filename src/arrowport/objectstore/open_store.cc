#include "arrowport/objectstore/open_store.h"

#include <string_view>

#include "arrowport/objectstore/local_store.h"
#include "arrowport/objectstore/s3_store.h"

namespace arrowport::objectstore {

namespace {

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
