#pragma once

// Test support (header only, never in the library): the S3 tests' shared MinIO server
// and their fixture.

#include <string>

#include <gtest/gtest.h>

#include "arrowport/test_support/minio_server.h"
#include "arrowport/objectstore/s3_store.h"

namespace arrowport::objectstore::s3test {

using test_support::MinioServer;


inline constexpr char kUser[] = "arrowport-test";
inline constexpr char kSecret[] = "arrowport-test-secret-9f8e7d";
inline constexpr char kBucket[] = "lake";

/// The MinIO server every S3 test of this process shares, started on first use and
/// stopped at exit; null when there is no binary. `error`: why it failed to start.
inline MinioServer* SharedMinio(std::string* error) {
  static const std::string binary = MinioServer::FindBinary();
  if (binary.empty()) return nullptr;
  static std::string start_error;
  static const std::unique_ptr<MinioServer> minio = [] {
    auto started = MinioServer::Start(binary, kUser, kSecret, kBucket);
    if (!started.ok()) start_error = started.status().ToString();
    return started.ok() ? std::move(*started) : nullptr;
  }();
  *error = minio ? "" : start_error;
  return minio.get();
}

inline constexpr char kNoMinio[] =
    "no MinIO binary: set ARROWPORT_MINIO, put minio on PATH, or `go install "
    "github.com/minio/minio@latest` into /var/cache/arrowport/go/bin";

/// A test against the shared MinIO (skipped without one), with a store on its own prefix
/// of the bucket.
class MinioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    minio_ = SharedMinio(&error);
    ASSERT_TRUE(error.empty()) << error;
    if (minio_ == nullptr) GTEST_SKIP() << kNoMinio;
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = std::string(test->test_suite_name()) + "/" + test->name();
    store_ = Open(minio_->Settings());
  }

  std::shared_ptr<S3Store> Open(const S3Settings& settings,
                                const std::string& bucket = kBucket) const {
    auto store = S3Store::Make(bucket, prefix_, settings);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? *store : nullptr;
  }

  MinioServer* minio_ = nullptr;
  std::string prefix_;
  std::shared_ptr<S3Store> store_;
};

}  // namespace arrowport::objectstore::s3test
