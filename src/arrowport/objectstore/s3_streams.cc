#include "arrowport/objectstore/s3_streams.h"

#include <algorithm>
#include <cstring>
#include <system_error>

#include "arrowport/common/thread_cancellation.h"
#include "arrowport/objectstore/s3_xml.h"

namespace arrowport::objectstore {

namespace {

constexpr size_t kMaxParts = 10000;  // S3's limit

}  // namespace

arrow::Result<std::shared_ptr<arrow::Buffer>> RangedGet(S3Client& client,
                                                        const std::string& key,
                                                        int64_t offset, int64_t length) {
  S3Request request;
  request.key = key;
  request.headers.push_back("Range: bytes=" + std::to_string(offset) + "-" +
                            std::to_string(offset + length - 1));
  ARROW_ASSIGN_OR_RAISE(S3Response response, client.Send("GET", request));
  if (response.status == 206) return response.body;
  // The whole object: a server that ignores ranges (or a range covering it all).
  if (response.status == 200) {
    const int64_t start = std::min(offset, response.body->size());
    return arrow::SliceBuffer(response.body, start,
                              std::min(length, response.body->size() - start));
  }
  // Starting at or past the end: nothing there, as reading a file's end gives.
  if (response.status == 416) return std::make_shared<arrow::Buffer>(nullptr, 0);
  return client.ErrorOf("GET", key, response);
}

arrow::Result<std::shared_ptr<S3ReadFile>> S3ReadFile::Open(
    std::shared_ptr<S3Client> client, std::string key) {
  S3Request request;
  request.method = "HEAD";
  request.key = key;
  ARROW_ASSIGN_OR_RAISE(S3Response response, client->Send("HEAD", request));
  if (!response.ok()) return client->ErrorOf("HEAD", key, response);
  if (response.content_length < 0) {
    return arrow::Status::IOError("S3 HEAD ", client->ObjectUrl(key),
                                  ": no Content-Length in the answer");
  }
  return std::shared_ptr<S3ReadFile>(
      new S3ReadFile(std::move(client), std::move(key), response.content_length));
}

std::shared_ptr<S3ReadFile> S3ReadFile::OfSize(std::shared_ptr<S3Client> client,
                                               std::string key, int64_t size) {
  return std::shared_ptr<S3ReadFile>(new S3ReadFile(std::move(client), std::move(key), size));
}

arrow::Status S3ReadFile::Close() {
  closed_.store(true);
  return arrow::Status::OK();
}

arrow::Result<int64_t> S3ReadFile::Tell() const {
  if (closed_.load()) return arrow::Status::Invalid("Tell on a closed file");
  return position_.load();
}

arrow::Status S3ReadFile::Seek(int64_t position) {
  if (closed_.load()) return arrow::Status::Invalid("Seek on a closed file");
  if (position < 0) return arrow::Status::Invalid("negative seek position ", position);
  position_.store(position);
  return arrow::Status::OK();
}

arrow::Result<int64_t> S3ReadFile::GetSize() {
  if (closed_.load()) return arrow::Status::Invalid("GetSize on a closed file");
  return size_;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> S3ReadFile::ReadAt(int64_t position,
                                                                 int64_t nbytes) {
  if (closed_.load()) return arrow::Status::Invalid("read from a closed file");
  if (position < 0 || nbytes < 0) {
    return arrow::Status::Invalid("read of ", nbytes, " bytes at ", position);
  }
  const int64_t length = std::min(nbytes, std::max<int64_t>(0, size_ - position));
  if (length == 0) return std::make_shared<arrow::Buffer>(nullptr, 0);
  ARROW_ASSIGN_OR_RAISE(auto buffer, RangedGet(*client_, key_, position, length));
  if (buffer->size() != length) {
    return arrow::Status::IOError("S3 GET ", client_->ObjectUrl(key_), ": got ",
                                  buffer->size(), " bytes at ", position, " instead of ",
                                  length, " (the object changed while being read?)");
  }
  return buffer;
}

arrow::Result<int64_t> S3ReadFile::ReadAt(int64_t position, int64_t nbytes, void* out) {
  ARROW_ASSIGN_OR_RAISE(auto buffer, ReadAt(position, nbytes));
  if (buffer->size() > 0) std::memcpy(out, buffer->data(), buffer->size());
  return buffer->size();
}

arrow::Result<std::shared_ptr<arrow::Buffer>> S3ReadFile::Read(int64_t nbytes) {
  ARROW_ASSIGN_OR_RAISE(auto buffer, ReadAt(position_.load(), nbytes));
  position_ += buffer->size();
  return buffer;
}

arrow::Result<int64_t> S3ReadFile::Read(int64_t nbytes, void* out) {
  ARROW_ASSIGN_OR_RAISE(int64_t n, ReadAt(position_.load(), nbytes, out));
  position_ += n;
  return n;
}

S3Upload::S3Upload(std::shared_ptr<S3Client> client, std::string key)
    : client_(std::move(client)),
      key_(std::move(key)),
      part_bytes_(client_->part_bytes()) {}

S3Upload::~S3Upload() {
  if (!closed_) (void)Abort();
  if (in_flight_.valid()) in_flight_.wait();  // it uses this object
}

arrow::Status S3Upload::Fail(arrow::Status status) {
  if (failure_.ok()) failure_ = status;
  return status;
}

arrow::Status S3Upload::Write(const void* data, int64_t nbytes) {
  if (closed_) return arrow::Status::Invalid("write to a closed upload of ", key_);
  ARROW_RETURN_NOT_OK(failure_);
  const auto* bytes = static_cast<const uint8_t*>(data);
  int64_t left = nbytes;
  while (left > 0) {
    // A full part goes only when more bytes follow, so that an object of exactly one
    // part is a single PUT.
    if (buffer_.length() == part_bytes_) ARROW_RETURN_NOT_OK(UploadPart());
    const int64_t n = std::min(left, part_bytes_ - buffer_.length());
    const arrow::Status appended = buffer_.Append(bytes, n);
    if (!appended.ok()) return Fail(appended);
    bytes += n;
    left -= n;
  }
  position_ += nbytes;
  return arrow::Status::OK();
}

arrow::Status S3Upload::AwaitPart() {
  if (!in_flight_.valid()) return arrow::Status::OK();
  arrow::Status sent;
  try {
    sent = in_flight_.get();
  } catch (const std::exception& e) {  // what the sending thread threw comes out here
    sent = arrow::Status::IOError("S3 UploadPart ", client_->ObjectUrl(key_), ": ", e.what());
  }
  return sent.ok() ? sent : Fail(std::move(sent));
}

arrow::Status S3Upload::UploadPart() {
  ARROW_RETURN_NOT_OK(AwaitPart());
  if (upload_id_.empty()) {
    S3Request create;
    create.method = "POST";
    create.key = key_;
    create.query = {{"uploads", ""}};
    create.headers = {"Content-Type: application/octet-stream"};
    auto response = client_->Send("CreateMultipartUpload", create);
    if (!response.ok()) return Fail(response.status());
    if (!response->ok())
      return Fail(client_->ErrorOf("CreateMultipartUpload", key_, *response));
    auto upload_id = ParseUploadId(response->text());
    if (!upload_id.ok()) return Fail(upload_id.status());
    upload_id_ = std::move(upload_id).ValueUnsafe();
  }
  if (etags_.size() >= kMaxParts) {
    return Fail(arrow::Status::CapacityError("S3 upload of ", client_->ObjectUrl(key_),
                                             " needs more than ", kMaxParts, " parts of ",
                                             part_bytes_, " bytes: raise s3.part_bytes"));
  }
  std::shared_ptr<arrow::Buffer> body;
  auto finished = buffer_.Finish(&body, /*shrink_to_fit=*/false);
  // The next part fills a buffer of its own, allocated once at full size.
  if (finished.ok()) finished = buffer_.Reserve(part_bytes_);
  if (!finished.ok()) return Fail(finished);
  const size_t index = etags_.size();
  etags_.emplace_back();
  // The part travels on a thread of its own, under the writer's call's cancellation.
  auto send = [this, index, body = std::move(body),
               limits = ThreadCancellation::Current()]() -> arrow::Status {
    ThreadCancellationScope scope(limits);
    S3Request part;
    part.method = "PUT";
    part.key = key_;
    part.query = {{"partNumber", std::to_string(index + 1)}, {"uploadId", upload_id_}};
    part.body = body->data();
    part.body_size = body->size();
    const std::string op = "UploadPart " + std::to_string(index + 1);
    auto response = client_->Send(op, part);
    if (!response.ok()) return response.status();
    if (!response->ok()) return client_->ErrorOf(op, key_, *response);
    if (response->etag.empty()) {
      return arrow::Status::IOError("S3 ", op, " ", client_->ObjectUrl(key_),
                                    ": the answer has no ETag");
    }
    etags_[index] = response->etag;
    return arrow::Status::OK();
  };
  try {
    // A copy: if no thread can be had, `send` is still whole to run here.
    in_flight_ = std::async(std::launch::async, send);
  } catch (const std::system_error&) {  // no thread to be had: send it here
    std::promise<arrow::Status> sent;
    sent.set_value(arrow::Status::OK());
    in_flight_ = sent.get_future();
    auto status = send();
    if (!status.ok()) return Fail(status);
  }
  return arrow::Status::OK();
}

arrow::Status S3Upload::Complete() {
  const std::string body = CompleteMultipartBody(etags_);
  S3Request request;
  request.method = "POST";
  request.key = key_;
  request.query = {{"uploadId", upload_id_}};
  request.headers = {"Content-Type: application/xml"};
  request.body = reinterpret_cast<const uint8_t*>(body.data());
  request.body_size = static_cast<int64_t>(body.size());
  ARROW_ASSIGN_OR_RAISE(S3Response response,
                        client_->Send("CompleteMultipartUpload", request));
  // S3 may answer 200 and still fail: the error is then in the body.
  const auto error = ParseS3Error(response.text());
  if (response.ok() && !error) return arrow::Status::OK();
  if (error && error->code == "NoSuchUpload" && response.retried_after_send) {
    // An earlier attempt completed the upload before its answer was lost.
    S3Request head;
    head.method = "HEAD";
    head.key = key_;
    auto found = client_->Send("HEAD", head);
    if (found.ok() && found->ok() && found->content_length == position_) {
      return arrow::Status::OK();
    }
  }
  return client_->ErrorOf("CompleteMultipartUpload", key_, response);
}

arrow::Status S3Upload::AbortUpload() {
  // A part still travelling would land after the abort (or use this object after it).
  if (in_flight_.valid()) in_flight_.wait();
  if (upload_id_.empty()) return arrow::Status::OK();
  S3Request request;
  request.method = "DELETE";
  request.key = key_;
  request.query = {{"uploadId", upload_id_}};
  upload_id_.clear();
  ARROW_ASSIGN_OR_RAISE(S3Response response,
                        client_->Send("AbortMultipartUpload", request));
  if (response.ok() || response.status == 404) return arrow::Status::OK();
  return client_->ErrorOf("AbortMultipartUpload", key_, response);
}

arrow::Status S3Upload::Close() {
  if (closed_) return failure_;
  closed_ = true;
  arrow::Status status = failure_;
  if (status.ok() && upload_id_.empty()) {
    S3Request request;
    request.method = "PUT";
    request.key = key_;
    request.body = buffer_.data();
    request.body_size = buffer_.length();
    auto response = client_->Send("PUT", request);
    status = !response.ok()   ? response.status()
             : response->ok() ? arrow::Status::OK()
                              : client_->ErrorOf("PUT", key_, *response);
  } else if (status.ok()) {
    if (buffer_.length() > 0 || etags_.empty()) status = UploadPart();
    if (status.ok()) status = AwaitPart();
    if (status.ok()) status = Complete();
    if (status.ok()) upload_id_.clear();  // completed: nothing left to abort
  }
  buffer_.Reset();
  if (!status.ok()) {
    (void)AbortUpload();
    return Fail(status);
  }
  return arrow::Status::OK();
}

arrow::Status S3Upload::Abort() {
  if (closed_) return arrow::Status::OK();
  closed_ = true;
  buffer_.Reset();
  return AbortUpload();
}

}  // namespace arrowport::objectstore
