#include "arrowport/objectstore/s3_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "arrow/buffer.h"
#include "arrow/io/interfaces.h"
#include "arrowport/objectstore/s3_client.h"
#include "arrowport/test_support/store_contract_test_util.h"
#include "arrowport/test_support/s3_test_server.h"

namespace arrowport::objectstore {
namespace s3_store_test {

using s3test::kBucket;
using s3test::MinioTest;

std::shared_ptr<arrow::Buffer> Bytes(const std::string& text) {
  return arrow::Buffer::FromString(text);
}

std::string Text(const std::shared_ptr<arrow::Buffer>& buffer) {
  return buffer->ToString();
}

std::vector<std::string> Keys(const std::vector<ObjectInfo>& objects) {
  std::vector<std::string> keys;
  for (const auto& object : objects) keys.push_back(object.key);
  return keys;
}

/// `size` bytes of a pattern that differs at every part boundary.
std::string Pattern(int64_t size) {
  std::string data(static_cast<size_t>(size), '\0');
  for (int64_t i = 0; i < size; ++i)
    data[i] = static_cast<char>((i * 131 + i / 7919) & 0xff);
  return data;
}

class S3StoreTest : public MinioTest {
 protected:
  /// Multipart uploads still open for `key` (ListMultipartUploads; MinIO lists only those
  /// of one exact key, not of a prefix).
  int OpenUploads(const std::string& key) const {
    auto client = S3Client::Make(minio_->Settings(), kBucket).ValueOrDie();
    S3Request request;
    request.query = {{"uploads", ""}, {"prefix", prefix_ + "/" + key}};
    auto response = client->Send("ListMultipartUploads", request).ValueOrDie();
    EXPECT_EQ(response.status, 200) << response.text();
    int count = 0;
    for (size_t at = 0; (at = response.text().find("<Upload>", at)) != std::string::npos;
         ++at) {
      ++count;
    }
    return count;
  }
};

TEST_F(S3StoreTest, PutGetHeadDelete) {
  EXPECT_EQ(store_->url(), std::string("s3://lake/") + prefix_);
  ASSERT_TRUE(store_->Put("a/b.json", Bytes("hello")).ok());
  auto got = store_->Get("a/b.json");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Text(*got), "hello");
  auto info = store_->Head("a/b.json");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->key, "a/b.json");
  EXPECT_EQ(info->size, 5);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  EXPECT_LT(std::abs(info->modified_ms - now_ms), 600'000);

  ASSERT_TRUE(store_->Put("a/b.json", Bytes("replaced")).ok());
  EXPECT_EQ(Text(*store_->Get("a/b.json")), "replaced");
  ASSERT_TRUE(store_->Put("empty", Bytes("")).ok());
  EXPECT_EQ(store_->Get("empty").ValueOrDie()->size(), 0);
  EXPECT_EQ(store_->Head("empty").ValueOrDie().size, 0);

  ASSERT_TRUE(store_->Delete("a/b.json").ok());
  auto missing = store_->Get("a/b.json");
  EXPECT_TRUE(missing.status().IsKeyError()) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("NoSuchKey"), std::string::npos);
  EXPECT_TRUE(store_->Head("a/b.json").status().IsKeyError());
  EXPECT_TRUE(store_->GetRange("a/b.json", 0, 4).status().IsKeyError());
  EXPECT_TRUE(store_->GetRange("a/b.json", 0, 0).status().IsKeyError());
  EXPECT_TRUE(store_->OpenRead("a/b.json").status().IsKeyError());
  EXPECT_TRUE(store_->Delete("a/b.json").ok()) << "deleting a missing object is fine";
  EXPECT_TRUE(store_->Get("../x").status().IsInvalid());
}

TEST_F(S3StoreTest, KeysNeedingEncodingRoundTrip) {
  const std::vector<std::string> keys = {"día/文件 1+2%20.json",
                                         "a b/c+d=e&f?g#h;i,j.json",
                                         "x/~tilde_(paren)!*'quote", "x/..dots../ok"};
  for (const auto& key : keys) {
    ASSERT_TRUE(store_->Put(key, Bytes(key)).ok()) << key;
    EXPECT_EQ(Text(*store_->Get(key)), key);
    EXPECT_EQ(store_->Head(key).ValueOrDie().size, static_cast<int64_t>(key.size()));
  }
  auto listed = store_->List("");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(Keys(*listed), sorted);
  EXPECT_EQ(Keys(*store_->List("día/")), std::vector<std::string>{keys[0]});
}

TEST_F(S3StoreTest, GetRange) {
  ASSERT_TRUE(store_->Put("k", Bytes("0123456789")).ok());
  EXPECT_EQ(Text(*store_->GetRange("k", 2, 3)), "234");
  EXPECT_EQ(Text(*store_->GetRange("k", 8, 100)), "89") << "fewer at the end";
  EXPECT_EQ(Text(*store_->GetRange("k", 0, 10)), "0123456789");
  EXPECT_EQ(Text(*store_->GetRange("k", 10, 5)), "");
  EXPECT_EQ(Text(*store_->GetRange("k", 50, 5)), "");
  EXPECT_EQ(Text(*store_->GetRange("k", 3, 0)), "");
  EXPECT_TRUE(store_->GetRange("k", -1, 5).status().IsInvalid());
}

TEST_F(S3StoreTest, ListPaginatesAndStartsAfter) {
  constexpr int kObjects = 1010;  // more than one page of 1000
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < kObjects; i += 4) {
        char key[32];
        std::snprintf(key, sizeof(key), "log/%05d.json", i);
        if (!store_->Put(key, Bytes(key)).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& writer : writers) writer.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_TRUE(store_->Put("other", Bytes("x")).ok());

  auto all = store_->List("log/");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), static_cast<size_t>(kObjects));
  EXPECT_EQ((*all)[0].key, "log/00000.json");
  EXPECT_EQ((*all)[kObjects - 1].key, "log/01009.json");
  EXPECT_TRUE(std::is_sorted(all->begin(), all->end(),
                             [](const auto& a, const auto& b) { return a.key < b.key; }));
  EXPECT_EQ((*all)[7].size, 14);
  EXPECT_GT((*all)[7].modified_ms, 0);

  auto tail = store_->List("log/", "log/00005.json");
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), static_cast<size_t>(kObjects - 6));
  EXPECT_EQ(tail->front().key, "log/00006.json");
  EXPECT_EQ(Keys(*store_->List("log/", "log/01007.json")),
            (std::vector<std::string>{"log/01008.json", "log/01009.json"}));
  EXPECT_EQ(store_->List("").ValueOrDie().size(), static_cast<size_t>(kObjects + 1));
  EXPECT_EQ(Keys(*store_->List("oth")), std::vector<std::string>{"other"});
  EXPECT_TRUE(store_->List("nothing/").ValueOrDie().empty());
}

TEST_F(S3StoreTest, MultipartUploadOf12MiB) {
  const std::string data = Pattern(int64_t{12} << 20);
  auto upload = store_->OpenUpload("t/big.parquet");
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  // Odd-sized writes straddle the 5 MiB part boundaries.
  constexpr size_t kChunk = (1 << 20) + 7;
  for (size_t at = 0; at < data.size(); at += kChunk) {
    ASSERT_TRUE(
        (*upload)->Write(data.data() + at, std::min(kChunk, data.size() - at)).ok());
  }
  EXPECT_EQ((*upload)->Tell().ValueOrDie(), static_cast<int64_t>(data.size()));
  EXPECT_TRUE(store_->Head("t/big.parquet").status().IsKeyError()) << "not before Close";
  EXPECT_EQ(OpenUploads("t/big.parquet"), 1);
  ASSERT_TRUE((*upload)->Close().ok());
  EXPECT_EQ(OpenUploads("t/big.parquet"), 0);

  EXPECT_EQ(store_->Head("t/big.parquet").ValueOrDie().size,
            static_cast<int64_t>(data.size()));
  EXPECT_TRUE(Text(*store_->Get("t/big.parquet")) == data);

  auto file = store_->OpenRead("t/big.parquet");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->GetSize().ValueOrDie(), static_cast<int64_t>(data.size()));
  const int64_t boundary = int64_t{5} << 20;
  auto across = (*file)->ReadAt(boundary - 10, 20).ValueOrDie();
  EXPECT_EQ(Text(across), data.substr(boundary - 10, 20));
  auto tail = (*file)->ReadAt(data.size() - 5, 100).ValueOrDie();
  EXPECT_EQ(Text(tail), data.substr(data.size() - 5));
  EXPECT_EQ((*file)->ReadAt(data.size() + 5, 10).ValueOrDie()->size(), 0);
  ASSERT_TRUE((*file)->Seek(100).ok());
  char out[16];
  EXPECT_EQ((*file)->Read(16, out).ValueOrDie(), 16);
  EXPECT_EQ(std::string(out, 16), data.substr(100, 16));
  EXPECT_EQ((*file)->Tell().ValueOrDie(), 116);
  EXPECT_TRUE((*file)->Close().ok());
}

TEST_F(S3StoreTest, SmallAndExactlyOnePartUploadsArePlainPuts) {
  for (const int64_t size : {int64_t{0}, int64_t{3}, int64_t{5} << 20}) {
    const std::string key = "one/" + std::to_string(size);
    const std::string data = Pattern(size);
    auto upload = store_->OpenUpload(key).ValueOrDie();
    ASSERT_TRUE(upload->Write(data.data(), size).ok());
    EXPECT_EQ(OpenUploads(key), 0) << "no multipart upload for " << size << " bytes";
    ASSERT_TRUE(upload->Close().ok());
    EXPECT_TRUE(Text(*store_->Get(key)) == data) << size;
  }
}

TEST_F(S3StoreTest, AbortedOrDroppedUploadLeavesNothing) {
  const std::string data = Pattern(int64_t{6} << 20);  // one part sent, one buffered
  {
    auto upload = store_->OpenUpload("t/aborted").ValueOrDie();
    ASSERT_TRUE(upload->Write(data.data(), data.size()).ok());
    EXPECT_EQ(OpenUploads("t/aborted"), 1);
    ASSERT_TRUE(upload->Abort().ok());
    EXPECT_TRUE(upload->closed());
  }
  {
    auto upload = store_->OpenUpload("t/dropped").ValueOrDie();
    ASSERT_TRUE(upload->Write(data.data(), data.size()).ok());
    EXPECT_EQ(OpenUploads("t/dropped"), 1);
  }  // destroyed without Close
  {
    auto upload = store_->OpenUpload("t/small").ValueOrDie();
    ASSERT_TRUE(upload->Write("abc", 3).ok());
  }
  EXPECT_EQ(OpenUploads("t/aborted"), 0);
  EXPECT_EQ(OpenUploads("t/dropped"), 0);
  EXPECT_TRUE(store_->List("").ValueOrDie().empty());
}

TEST_F(S3StoreTest, PutIfAbsentRaceHasExactlyOneWinner) {
  ASSERT_TRUE(store_->PutIfAbsent("log/first.json", Bytes("1")).ok());
  const auto again = store_->PutIfAbsent("log/first.json", Bytes("2"));
  ASSERT_TRUE(IsAlreadyExists(again)) << again.ToString();
  EXPECT_EQ(Text(*store_->Get("log/first.json")), "1");

  testing::ExpectOnePutIfAbsentWinner(*store_, /*writers=*/8, /*rounds=*/5);
}

TEST_F(S3StoreTest, VirtualHostStyle) {
  // MINIO_DOMAIN=localhost; curl resolves *.localhost to the loopback itself.
  S3Settings settings = minio_->Settings();
  settings.endpoint = "http://localhost:" + std::to_string(minio_->port());
  settings.path_style = false;
  auto vhost = Open(settings);
  ASSERT_TRUE(vhost->Put("v/key one", Bytes("vhost")).ok());
  EXPECT_EQ(Text(*store_->Get("v/key one")), "vhost") << "the same bucket, path style";
  EXPECT_EQ(Keys(*vhost->List("v/")), std::vector<std::string>{"v/key one"});
}

}  // namespace s3_store_test
}  // namespace arrowport::objectstore
