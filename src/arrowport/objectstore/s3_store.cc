#include "arrowport/objectstore/s3_store.h"

#include <algorithm>
#include <cstring>

#include "arrowport/objectstore/s3_client.h"
#include "arrowport/objectstore/s3_streams.h"
#include "arrowport/objectstore/s3_xml.h"

namespace arrowport::objectstore {

namespace {

constexpr int64_t kMaxSinglePut = int64_t{5} << 30;  // S3's limit for one PUT

S3Request Request(std::string method, std::string key) {
  S3Request request;
  request.method = std::move(method);
  request.key = std::move(key);
  return request;
}

bool SameBytes(const arrow::Buffer& a, const arrow::Buffer& b) {
  return a.size() == b.size() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace

S3Store::S3Store(std::shared_ptr<S3Client> client, std::string prefix,
                 bool trust_conditional_writes)
    : client_(std::move(client)),
      prefix_(std::move(prefix)),
      trust_conditional_writes_(trust_conditional_writes) {}

S3Store::~S3Store() = default;

arrow::Result<std::shared_ptr<S3Store>> S3Store::Make(const std::string& bucket,
                                                      const std::string& prefix,
                                                      const S3Settings& settings) {
  if (!prefix.empty()) ARROW_RETURN_NOT_OK(ValidateKey(prefix));
  ARROW_ASSIGN_OR_RAISE(auto client, S3Client::Make(settings, bucket));
  return std::shared_ptr<S3Store>(new S3Store(std::move(client),
                                              prefix.empty() ? "" : prefix + "/",
                                              settings.trust_conditional_writes));
}

std::string S3Store::url() const {
  std::string url = "s3://" + client_->bucket();
  if (!prefix_.empty()) url += "/" + prefix_.substr(0, prefix_.size() - 1);
  return url;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> S3Store::Get(const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  ARROW_ASSIGN_OR_RAISE(S3Response response,
                        client_->Send("GET", Request("GET", FullKey(key))));
  if (!response.ok()) return client_->ErrorOf("GET", FullKey(key), response);
  return response.body;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> S3Store::GetRange(const std::string& key,
                                                                int64_t offset,
                                                                int64_t length) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  if (offset < 0 || length < 0) {
    return arrow::Status::Invalid("read of ", length, " bytes at ", offset, " of ", key);
  }
  if (length == 0) {  // no byte to ask for: still an error when there is no object
    ARROW_RETURN_NOT_OK(Head(key).status());
    return std::make_shared<arrow::Buffer>(nullptr, 0);
  }
  return RangedGet(*client_, FullKey(key), offset, length);
}

arrow::Result<ObjectInfo> S3Store::Head(const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  ARROW_ASSIGN_OR_RAISE(S3Response response,
                        client_->Send("HEAD", Request("HEAD", FullKey(key))));
  if (!response.ok()) return client_->ErrorOf("HEAD", FullKey(key), response);
  return ObjectInfo{key, std::max<int64_t>(0, response.content_length),
                    response.modified_ms};
}

arrow::Result<std::vector<ObjectInfo>> S3Store::List(const std::string& prefix,
                                                     const std::string& start_after) {
  ARROW_RETURN_NOT_OK(ValidatePrefix(prefix));
  const std::string full_prefix = FullKey(prefix);
  std::vector<ObjectInfo> objects;
  std::string token;
  do {
    S3Request request = Request("GET", "");
    // encoding-type=url: keys with bytes XML 1.0 cannot carry still list.
    request.query = {
        {"list-type", "2"}, {"prefix", full_prefix}, {"encoding-type", "url"}};
    if (!token.empty()) {
      request.query.emplace_back("continuation-token", token);
    } else if (!start_after.empty()) {
      request.query.emplace_back("start-after", FullKey(start_after));
    }
    ARROW_ASSIGN_OR_RAISE(S3Response response, client_->Send("LIST", request));
    if (!response.ok()) return client_->ErrorOf("LIST", full_prefix, response);
    ARROW_ASSIGN_OR_RAISE(S3ListPage page, ParseListObjectsV2(response.text()));
    for (ObjectInfo& object : page.objects) {
      if (!object.key.starts_with(prefix_)) continue;  // cannot happen: S3 filtered
      object.key.erase(0, prefix_.size());
      objects.push_back(std::move(object));
    }
    token = page.truncated ? page.next_continuation_token : "";
  } while (!token.empty());
  return objects;
}

arrow::Status S3Store::Put(const std::string& key, std::shared_ptr<arrow::Buffer> data) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  if (data->size() > kMaxSinglePut) {
    ARROW_ASSIGN_OR_RAISE(auto upload, OpenUpload(key));
    ARROW_RETURN_NOT_OK(upload->Write(data));
    return upload->Close();
  }
  S3Request request = Request("PUT", FullKey(key));
  request.body = data->data();
  request.body_size = data->size();
  ARROW_ASSIGN_OR_RAISE(S3Response response, client_->Send("PUT", request));
  if (!response.ok()) return client_->ErrorOf("PUT", FullKey(key), response);
  return arrow::Status::OK();
}

arrow::Status S3Store::PutIfAbsent(const std::string& key,
                                   std::shared_ptr<arrow::Buffer> data) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  if (data->size() > kMaxSinglePut) {
    return arrow::Status::CapacityError("S3 PutIfAbsent of ", key, ": ", data->size(),
                                        " bytes is more than one PUT carries (5 GiB)");
  }
  S3Request request = Request("PUT", FullKey(key));
  request.headers = {"If-None-Match: *"};
  request.body = data->data();
  request.body_size = data->size();
  ARROW_ASSIGN_OR_RAISE(S3Response response, client_->Send("PUT", request));
  if (response.ok()) return arrow::Status::OK();
  const bool exists = response.status == 412;
  const bool racing =
      response.status == 409 && ParseS3Error(response.text()).value_or(S3Error{}).code ==
                                    "ConditionalRequestConflict";
  if (!exists && !racing) return client_->ErrorOf("PUT", FullKey(key), response);
  // An earlier attempt of ours may have created the object (or still be creating it):
  // after our own retry, but also after libcurl's, which resends a request silently when
  // a reused connection dies before the answer. Only a read can say whose it is.
  auto current = Get(key);
  if (current.ok()) {
    return SameBytes(**current, *data) ? arrow::Status::OK() : AlreadyExists(key);
  }
  return arrow::Status::IOError(
      "S3 PUT If-None-Match of ", FullKey(key), ": answered ", response.status,
      response.retried_after_send ? " after a retry" : "",
      ", and reading the object back to see whether an earlier attempt of ours made it "
      "failed (", current.status().message(), "): it may have been written");
}

arrow::Status S3Store::Delete(const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  ARROW_ASSIGN_OR_RAISE(S3Response response,
                        client_->Send("DELETE", Request("DELETE", FullKey(key))));
  if (response.ok() || response.status == 404) return arrow::Status::OK();
  auto status = client_->ErrorOf("DELETE", FullKey(key), response);
  return status.IsKeyError() ? arrow::Status::OK() : status;
}

arrow::Result<std::shared_ptr<arrow::io::OutputStream>> S3Store::OpenUpload(
    const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  return std::make_shared<S3Upload>(client_, FullKey(key));
}

arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> S3Store::OpenRead(
    const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  ARROW_ASSIGN_OR_RAISE(auto file, S3ReadFile::Open(client_, FullKey(key)));
  return std::shared_ptr<arrow::io::RandomAccessFile>(std::move(file));
}

arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> S3Store::OpenReadOfSize(
    const std::string& key, int64_t size) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  if (size < 0) return OpenRead(key);
  return std::shared_ptr<arrow::io::RandomAccessFile>(
      S3ReadFile::OfSize(client_, FullKey(key), size));
}

arrow::Status S3Store::CreateBucket() {
  S3Request request = Request("PUT", "");
  // us-east-1 is S3's default location and refuses being named.
  const std::string body =
      client_->region() == "us-east-1" ? "" : CreateBucketBody(client_->region());
  request.body = reinterpret_cast<const uint8_t*>(body.data());
  request.body_size = static_cast<int64_t>(body.size());
  ARROW_ASSIGN_OR_RAISE(S3Response response, client_->Send("CreateBucket", request));
  if (response.ok()) return arrow::Status::OK();
  const auto error = ParseS3Error(response.text());
  if (error && error->code == "BucketAlreadyOwnedByYou") return arrow::Status::OK();
  return client_->ErrorOf("CreateBucket", "", response);
}

}  // namespace arrowport::objectstore
