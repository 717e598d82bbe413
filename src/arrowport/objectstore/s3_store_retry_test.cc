// The S3 client against a scripted fake server: what a real one cannot be made to do on
// demand (5xx answers, lost answers, 200 with an error), and the requests curl signs.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "arrow/buffer.h"
#include "arrowport/objectstore/s3_store.h"
#include "arrowport/test_support/loopback_listener.h"

namespace arrowport::objectstore {
namespace s3_store_retry_test {

struct Reply {
  Reply(int status = 200, std::string body = "", std::string headers = "", int delay_ms = 0)
      : status(status), body(std::move(body)), headers(std::move(headers)),
        delay_ms(delay_ms) {}
  int status;
  std::string body;
  std::string headers;  // extra "Name: value\r\n" lines
  int delay_ms;         // how long the server takes before it answers
};

/// \brief An HTTP/1.1 server on a loopback port answering each request with the next
/// reply of its script (then 200 with an empty body), keeping what it received.
class FakeS3 {
 public:
  explicit FakeS3(std::vector<Reply> script) : script_(std::move(script)) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeS3() {
    stop_ = true;
    thread_.join();
  }

  std::string endpoint() const { return listener_.endpoint(); }
  /// Each request's head (request line and headers), in arrival order.
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  bool Readable(int fd) {
    pollfd entry{fd, POLLIN, 0};
    while (!stop_) {
      if (::poll(&entry, 1, 20) > 0) return true;
    }
    return false;
  }

  void Serve() {
    while (Readable(listener_.fd())) {
      const int connection = ::accept(listener_.fd(), nullptr, nullptr);
      if (connection < 0) continue;
      std::string pending;
      while (HandleOne(connection, &pending)) {
      }
      ::close(connection);
    }
  }

  // Reads one request from `fd` and answers it; false when the connection ends.
  bool HandleOne(int fd, std::string* pending) {
    char chunk[65536];
    size_t head_end;
    while ((head_end = pending->find("\r\n\r\n")) == std::string::npos) {
      if (!Readable(fd)) return false;
      const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      pending->append(chunk, static_cast<size_t>(n));
    }
    const std::string head = pending->substr(0, head_end + 2);
    pending->erase(0, head_end + 4);
    size_t body_size = 0;
    if (const size_t at = head.find("Content-Length: "); at != std::string::npos) {
      body_size = std::stoul(head.substr(at + 16));
    }
    if (head.find("Expect: 100-continue") != std::string::npos) {
      const std::string proceed = "HTTP/1.1 100 Continue\r\n\r\n";
      ::send(fd, proceed.data(), proceed.size(), MSG_NOSIGNAL);
    }
    while (pending->size() < body_size) {
      if (!Readable(fd)) return false;
      const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      pending->append(chunk, static_cast<size_t>(n));
    }
    pending->erase(0, body_size);
    Reply reply;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (requests_.size() < script_.size()) reply = script_[requests_.size()];
      requests_.push_back(head);
    }
    if (reply.delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(reply.delay_ms));
    }
    const bool head_request = head.starts_with("HEAD ");
    std::string answer = "HTTP/1.1 " + std::to_string(reply.status) + " Scripted\r\n" +
                         reply.headers +
                         "Content-Length: " + std::to_string(reply.body.size()) +
                         "\r\n\r\n" + (head_request ? "" : reply.body);
    ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    return true;
  }

  std::vector<Reply> script_;
  test_support::LoopbackListener listener_;  // before the thread that accepts from it
  std::atomic<bool> stop_{false};
  std::mutex mutex_;  // guards requests_
  std::vector<std::string> requests_;
  std::thread thread_;
};

std::string Error(const std::string& code) {
  return "<?xml version=\"1.0\"?><Error><Code>" + code + "</Code><Message>scripted " +
         code + "</Message></Error>";
}

std::shared_ptr<S3Store> StoreOn(const FakeS3& server, int retries = 3) {
  S3Settings settings;
  settings.endpoint = server.endpoint();
  settings.access_key_id = "AKIDTEST";
  settings.secret_access_key = "secret-never-sent-4d3c2b";
  settings.session_token = "token-5e4d3c";
  settings.retries = retries;
  settings.part_bytes = 5 << 20;
  return S3Store::Make("bucket", "pre", settings).ValueOrDie();
}

std::shared_ptr<arrow::Buffer> Bytes(const std::string& text) {
  return arrow::Buffer::FromString(text);
}

TEST(S3RetryTest, ServerErrorsAreRetried) {
  FakeS3 server({{503, Error("SlowDown")}, {500, Error("InternalError")}, {200, "data"}});
  auto got = StoreOn(server)->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)->ToString(), "data");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(S3RetryTest, ClientErrorsAreNot) {
  FakeS3 server({{400, Error("InvalidArgument")}});
  const auto status = StoreOn(server)->Get("k").status();
  EXPECT_TRUE(status.IsIOError());
  EXPECT_NE(status.message().find("S3 GET s3://bucket/pre/k: InvalidArgument: scripted"),
            std::string::npos)
      << status.ToString();
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(S3RetryTest, GivesUpAfterTheRetries) {
  FakeS3 server(
      {{503, Error("SlowDown")}, {503, Error("SlowDown")}, {503, Error("SlowDown")}});
  const auto status = StoreOn(server, /*retries=*/2)->Put("k", Bytes("x"));
  EXPECT_NE(status.message().find("SlowDown"), std::string::npos) << status.ToString();
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(S3RetryTest, PutIfAbsentRecognisesItsOwnEarlierSuccess) {
  // The first attempt "fails" with a 500 after (say) creating the object; the retry then
  // meets it: 412. The object holds our bytes, so we won.
  FakeS3 ours({{500, Error("InternalError")},
               {412, Error("PreconditionFailed")},
               {200, "commit"}});
  EXPECT_TRUE(StoreOn(ours)->PutIfAbsent("log/1.json", Bytes("commit")).ok());
  EXPECT_EQ(ours.requests().size(), 3u);
  EXPECT_TRUE(ours.requests()[2].starts_with("GET /bucket/pre/log/1.json "));

  FakeS3 theirs({{500, Error("InternalError")},
                 {412, Error("PreconditionFailed")},
                 {200, "another writer's commit"}});
  EXPECT_TRUE(
      IsAlreadyExists(StoreOn(theirs)->PutIfAbsent("log/1.json", Bytes("commit"))));

  // Without a retry of ours too: libcurl resends on a reused connection that died.
  FakeS3 plain({{412, Error("PreconditionFailed")}, {200, "another writer's commit"}});
  EXPECT_TRUE(
      IsAlreadyExists(StoreOn(plain)->PutIfAbsent("log/1.json", Bytes("commit"))));
  EXPECT_EQ(plain.requests().size(), 2u);
  FakeS3 plain_ours({{412, Error("PreconditionFailed")}, {200, "commit"}});
  EXPECT_TRUE(StoreOn(plain_ours)->PutIfAbsent("log/1.json", Bytes("commit")).ok());

  FakeS3 racing({{409, Error("ConditionalRequestConflict")}});
  EXPECT_TRUE(
      IsAlreadyExists(StoreOn(racing)->PutIfAbsent("log/1.json", Bytes("commit"))));
}

TEST(S3RetryTest, PutIfAbsentThatCannotReadBackItsRetryHasNoVerdict) {
  // The retry meets 412, and the object cannot be read to see whether the first attempt
  // made it (issue 35): not "already exists" (which a commit takes as a lost race, and
  // deletes its files), but an error that says it may have been written.
  FakeS3 unreadable({{500, Error("InternalError")},
                     {412, Error("PreconditionFailed")},
                     {503, Error("SlowDown")},
                     {503, Error("SlowDown")}});
  const auto status =
      StoreOn(unreadable, /*retries=*/1)->PutIfAbsent("log/1.json", Bytes("commit"));
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(IsAlreadyExists(status)) << status.ToString();
  EXPECT_TRUE(status.IsIOError()) << status.ToString();
  EXPECT_NE(status.message().find("may have been written"), std::string::npos)
      << status.ToString();
  // So does a retry that meets another conditional write in progress (maybe its own).
  FakeS3 racing_itself({{500, Error("InternalError")},
                        {409, Error("ConditionalRequestConflict")},
                        {503, Error("SlowDown")},
                        {503, Error("SlowDown")}});
  EXPECT_FALSE(IsAlreadyExists(
      StoreOn(racing_itself, /*retries=*/1)->PutIfAbsent("log/1.json", Bytes("commit"))));
}

TEST(S3RetryTest, CompleteAnswering200WithAnErrorFailsAndAborts) {
  FakeS3 server({
      {200,
       "<InitiateMultipartUploadResult><UploadId>up-1</UploadId>"
       "</InitiateMultipartUploadResult>"},
      {200, "", "ETag: \"part-1\"\r\n"},
      {200, "", "ETag: \"part-2\"\r\n"},
      {200, Error("InternalError")},  // CompleteMultipartUpload
      {204, ""},                      // AbortMultipartUpload
  });
  auto upload = StoreOn(server, /*retries=*/0)->OpenUpload("big").ValueOrDie();
  const std::string data((5 << 20) + 1, 'x');
  ASSERT_TRUE(upload->Write(data.data(), static_cast<int64_t>(data.size())).ok());
  const auto status = upload->Close();
  EXPECT_NE(
      status.message().find("CompleteMultipartUpload s3://bucket/pre/big: InternalError"),
      std::string::npos)
      << status.ToString();
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_TRUE(requests[0].starts_with("POST /bucket/pre/big?uploads= "));
  EXPECT_TRUE(requests[1].starts_with("PUT /bucket/pre/big?partNumber=1&uploadId=up-1 "));
  EXPECT_TRUE(requests[2].starts_with("PUT /bucket/pre/big?partNumber=2&uploadId=up-1 "));
  EXPECT_TRUE(requests[3].starts_with("POST /bucket/pre/big?uploadId=up-1 "));
  EXPECT_NE(requests[3].find("Content-Type: application/xml"), std::string::npos);
  EXPECT_TRUE(requests[4].starts_with("DELETE /bucket/pre/big?uploadId=up-1 "));
}

// A part travels on its own thread while the writer fills the next: the writes that start
// and fill part 2 return before the server has answered part 1 (they waited for it).
TEST(S3RetryTest, APartTravelsWhileTheNextOneFills) {
  FakeS3 server({
      {200,
       "<InitiateMultipartUploadResult><UploadId>up-1</UploadId>"
       "</InitiateMultipartUploadResult>"},
      {200, "", "ETag: \"part-1\"\r\n", /*delay_ms=*/1500},
      {200, "", "ETag: \"part-2\"\r\n"},
      {200, "<CompleteMultipartUploadResult></CompleteMultipartUploadResult>"},
  });
  auto upload = StoreOn(server, /*retries=*/0)->OpenUpload("big").ValueOrDie();
  const std::string part(5 << 20, 'x');
  ASSERT_TRUE(upload->Write(part.data(), static_cast<int64_t>(part.size())).ok());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(upload->Write(part.data(), static_cast<int64_t>(part.size())).ok());
  const auto filling = std::chrono::steady_clock::now() - start;
  EXPECT_LT(filling, std::chrono::milliseconds(1000));
  ASSERT_TRUE(upload->Close().ok());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_TRUE(requests[1].starts_with("PUT /bucket/pre/big?partNumber=1&uploadId=up-1 "));
  EXPECT_TRUE(requests[2].starts_with("PUT /bucket/pre/big?partNumber=2&uploadId=up-1 "));
  EXPECT_TRUE(requests[3].starts_with("POST /bucket/pre/big?uploadId=up-1 "));
}

// A part that fails while the next one fills fails the upload at the next part or at
// Close, which aborts it: nothing is completed.
TEST(S3RetryTest, APartFailingInFlightFailsTheUploadAndAborts) {
  FakeS3 server({
      {200,
       "<InitiateMultipartUploadResult><UploadId>up-1</UploadId>"
       "</InitiateMultipartUploadResult>"},
      {403, Error("AccessDenied"), "", /*delay_ms=*/300},
      {204, ""},  // AbortMultipartUpload
  });
  auto upload = StoreOn(server, /*retries=*/0)->OpenUpload("big").ValueOrDie();
  const std::string data((5 << 20) + 1, 'x');
  ASSERT_TRUE(upload->Write(data.data(), static_cast<int64_t>(data.size())).ok());
  const auto status = upload->Close();
  EXPECT_NE(status.message().find("UploadPart 1 s3://bucket/pre/big: AccessDenied"),
            std::string::npos)
      << status.ToString();
  EXPECT_FALSE(upload->Close().ok());  // stays failed
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_TRUE(requests[2].starts_with("DELETE /bucket/pre/big?uploadId=up-1 "));
}

TEST(S3RetryTest, RequestsAreSignedByCurl) {
  FakeS3 server({});
  auto store = StoreOn(server);
  ASSERT_TRUE(store->Get("dir/a b+c.json").ok());
  ASSERT_TRUE(store->Put("k", Bytes("body")).ok());
  ASSERT_TRUE(store->PutIfAbsent("k2", Bytes("body")).ok());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_TRUE(requests[0].starts_with("GET /bucket/pre/dir/a%20b%2Bc.json HTTP/1.1"))
      << requests[0];
  for (const auto& head : requests) {
    SCOPED_TRACE(head);
    std::string lower = head;
    for (char& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_NE(lower.find("\r\nx-amz-date: "), std::string::npos);
    EXPECT_NE(head.find("Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/"),
              std::string::npos);
    EXPECT_NE(head.find("/us-east-1/s3/aws4_request"), std::string::npos);
    EXPECT_NE(head.find("x-amz-security-token: token-5e4d3c"), std::string::npos);
    EXPECT_EQ(head.find("secret-never-sent"), std::string::npos);
  }
  // Signed: the token and (for the conditional PUT) If-None-Match.
  EXPECT_NE(requests[2].find("if-none-match;"), std::string::npos) << requests[2];
  EXPECT_NE(requests[2].find("x-amz-security-token"), std::string::npos);
  EXPECT_NE(
      requests[0].find("x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4"
                       "649b934ca495991b7852b855"),
      std::string::npos)
      << "the empty body's hash";
  EXPECT_NE(requests[1].find("x-amz-content-sha256: UNSIGNED-PAYLOAD"),
            std::string::npos);
}

}  // namespace s3_store_retry_test
}  // namespace arrowport::objectstore
