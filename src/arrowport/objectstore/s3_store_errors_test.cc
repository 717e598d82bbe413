#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "arrow/buffer.h"
#include "arrowport/objectstore/s3_store.h"
#include "arrowport/test_support/s3_test_server.h"

namespace arrowport::objectstore {
namespace s3_store_errors_test {

using s3test::kSecret;
using s3test::MinioTest;

std::shared_ptr<arrow::Buffer> Bytes(const std::string& text) {
  return arrow::Buffer::FromString(text);
}

bool Contains(const arrow::Status& status, const std::string& text) {
  return status.ToString().find(text) != std::string::npos;
}

class S3ErrorsTest : public MinioTest {};

TEST_F(S3ErrorsTest, WrongSecretIsNamedAndNeverShown) {
  S3Settings settings = minio_->Settings();
  settings.secret_access_key = "not-the-secret-5c4b3a";
  auto store = Open(settings);
  const auto put = store->Put("k", Bytes("x"));
  EXPECT_TRUE(put.IsIOError()) << put.ToString();
  EXPECT_TRUE(Contains(put, "S3 refused the credentials (SignatureDoesNotMatch"))
      << put.ToString();
  EXPECT_TRUE(Contains(put, "PUT s3://lake/" + prefix_ + "/k")) << put.ToString();
  EXPECT_FALSE(Contains(put, settings.secret_access_key));
  EXPECT_FALSE(Contains(put, kSecret));

  // HEAD answers have no body: the code comes from MinIO's headers, or the status.
  const auto head = store->Head("k").status();
  EXPECT_TRUE(head.IsIOError()) << head.ToString();
  EXPECT_FALSE(Contains(head, settings.secret_access_key));
  const auto list = store->List("").status();
  EXPECT_TRUE(Contains(list, "S3 refused the credentials")) << list.ToString();
}

TEST_F(S3ErrorsTest, UnknownAccessKeyAndTokenAreNamedAndNeverShown) {
  S3Settings settings = minio_->Settings();
  settings.access_key_id = "nobody";
  auto store = Open(settings);
  const auto get = store->Get("k").status();
  EXPECT_TRUE(Contains(get, "S3 refused the credentials (InvalidAccessKeyId"))
      << get.ToString();
  EXPECT_FALSE(Contains(get, kSecret));

  settings = minio_->Settings();
  settings.session_token = "session-token-7e6d5c";
  const auto with_token = Open(settings)->Put("k", Bytes("x"));
  EXPECT_TRUE(with_token.IsIOError()) << with_token.ToString();
  EXPECT_TRUE(Contains(with_token, "S3 refused the credentials"))
      << with_token.ToString();
  EXPECT_FALSE(Contains(with_token, settings.session_token));
  EXPECT_FALSE(Contains(with_token, kSecret));
}

TEST_F(S3ErrorsTest, MissingBucket) {
  auto store = Open(minio_->Settings(), "no-such-bucket");
  const auto put = store->Put("k", Bytes("x"));
  EXPECT_TRUE(put.IsIOError()) << put.ToString();
  EXPECT_TRUE(Contains(put, "S3 PUT s3://no-such-bucket/" + prefix_ +
                                "/k: NoSuchBucket: The specified bucket does not exist"))
      << put.ToString();
  const auto get = store->Get("k").status();
  EXPECT_TRUE(get.IsIOError()) << "a missing bucket is not a missing key: "
                               << get.ToString();
  EXPECT_TRUE(Contains(store->List("").status(), "NoSuchBucket"));
  EXPECT_TRUE(Contains(store->PutIfAbsent("k", Bytes("x")), "NoSuchBucket"));
  auto upload = store->OpenUpload("k").ValueOrDie();
  ASSERT_TRUE(upload->Write("abc", 3).ok());
  EXPECT_TRUE(Contains(upload->Close(), "NoSuchBucket"));
}

TEST_F(S3ErrorsTest, CredentialsFromTheEnvironment) {
  S3Settings settings = minio_->Settings();
  settings.access_key_id.clear();
  settings.secret_access_key.clear();
  ::setenv("AWS_ACCESS_KEY_ID", s3test::kUser, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", kSecret, 1);
  auto store = Open(settings);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  EXPECT_TRUE(store->Put("env", Bytes("from env")).ok());
  EXPECT_EQ(store->Get("env").ValueOrDie()->ToString(), "from env");

  auto anonymous = Open(settings);  // no credentials anywhere: unsigned requests
  const auto denied = anonymous->Put("anonymous", Bytes("x"));
  EXPECT_TRUE(Contains(denied, "AccessDenied")) << denied.ToString();
}

TEST(S3UnreachableTest, ConnectionRefusedNamesTheEndpoint) {
  S3Settings settings;
  settings.endpoint = "http://127.0.0.1:" + std::to_string(test_support::FreeLoopbackPort());
  settings.access_key_id = "id";
  settings.secret_access_key = "secret-value-3f2e1d";
  settings.retries = 2;
  auto store = S3Store::Make("bucket", "p", settings).ValueOrDie();
  const auto status = store->Put("k", Bytes("x"));
  EXPECT_TRUE(status.IsIOError()) << status.ToString();
  EXPECT_TRUE(Contains(
      status, "cannot reach S3 endpoint " + settings.endpoint + ": Connection refused"))
      << status.ToString();
  EXPECT_TRUE(Contains(status, "PUT s3://bucket/p/k, 3 attempts")) << status.ToString();
  EXPECT_FALSE(Contains(status, settings.secret_access_key));

  settings.endpoint = "http://no-such-host.invalid:9000";
  settings.retries = 0;
  const auto dns = S3Store::Make("bucket", "", settings).ValueOrDie()->Get("k").status();
  EXPECT_TRUE(Contains(dns, "cannot reach S3 endpoint http://no-such-host.invalid:9000"))
      << dns.ToString();
}

}  // namespace s3_store_errors_test
}  // namespace arrowport::objectstore
