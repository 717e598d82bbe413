#include "arrowport/objectstore/local_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "arrow/buffer.h"
#include "arrow/io/interfaces.h"
#include "arrowport/objectstore/local_file.h"
#include "arrowport/objectstore/open_store.h"
#include "arrowport/test_support/store_contract_test_util.h"

namespace arrowport::objectstore {
namespace local_store_test {

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

/// Every file under `dir`, relative ("" when there is none).
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files.push_back(std::filesystem::relative(entry.path(), dir).string());
    }
  }
  return files;
}

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/arrowport-local-store-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto store = LocalStore::Make(dir_ + "/root");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = *store;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string root() const { return dir_ + "/root"; }

  std::string dir_;
  std::shared_ptr<LocalStore> store_;
};

TEST_F(LocalStoreTest, PutGetHeadDelete) {
  ASSERT_TRUE(store_->Put("a/b/c.json", Bytes("hello")).ok());
  auto got = store_->Get("a/b/c.json");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Text(*got), "hello");
  auto info = store_->Head("a/b/c.json");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->key, "a/b/c.json");
  EXPECT_EQ(info->size, 5);
  EXPECT_GT(info->modified_ms, 1'600'000'000'000);

  ASSERT_TRUE(store_->Put("a/b/c.json", Bytes("replaced")).ok());
  EXPECT_EQ(Text(*store_->Get("a/b/c.json")), "replaced");
  ASSERT_TRUE(store_->Put("empty", Bytes("")).ok());
  EXPECT_EQ(store_->Get("empty").ValueOrDie()->size(), 0);

  ASSERT_TRUE(store_->Delete("a/b/c.json").ok());
  EXPECT_TRUE(store_->Get("a/b/c.json").status().IsKeyError());
  EXPECT_TRUE(store_->Delete("a/b/c.json").ok()) << "deleting a missing object is fine";
  // The emptied directories went with it: "a" can now be an object itself.
  EXPECT_FALSE(std::filesystem::exists(root() + "/a"));
  EXPECT_TRUE(store_->Put("a", Bytes("x")).ok());
  EXPECT_EQ(FilesUnder(root()).size(), 2u);  // "a" and "empty", no temporary files
}

TEST_F(LocalStoreTest, MissingObjectsAreKeyErrors) {
  auto get = store_->Get("nope/x");
  EXPECT_TRUE(get.status().IsKeyError());
  EXPECT_NE(get.status().message().find("nope/x"), std::string::npos);
  EXPECT_TRUE(store_->Head("nope").status().IsKeyError());
  EXPECT_TRUE(store_->GetRange("nope", 0, 10).status().IsKeyError());
  EXPECT_TRUE(store_->OpenRead("nope").status().IsKeyError());
  ASSERT_TRUE(store_->Put("dir/file", Bytes("x")).ok());
  EXPECT_TRUE(store_->Get("dir").status().IsKeyError()) << "a directory is not an object";
  EXPECT_TRUE(store_->Get("dir/file/below").status().IsKeyError());
}

TEST_F(LocalStoreTest, GetRange) {
  ASSERT_TRUE(store_->Put("k", Bytes("0123456789")).ok());
  EXPECT_EQ(Text(*store_->GetRange("k", 2, 3)), "234");
  EXPECT_EQ(Text(*store_->GetRange("k", 8, 100)), "89") << "fewer at the end";
  EXPECT_EQ(Text(*store_->GetRange("k", 10, 5)), "");
  EXPECT_EQ(Text(*store_->GetRange("k", 50, 5)), "");
  EXPECT_EQ(Text(*store_->GetRange("k", 3, 0)), "");
  EXPECT_TRUE(store_->GetRange("k", -1, 5).status().IsInvalid());
  EXPECT_TRUE(store_->GetRange("k", 0, -5).status().IsInvalid());
}

TEST_F(LocalStoreTest, OpenRead) {
  ASSERT_TRUE(store_->Put("p/data.parquet", Bytes("abcdefgh")).ok());
  auto file = store_->OpenRead("p/data.parquet");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->GetSize().ValueOrDie(), 8);
  EXPECT_EQ(Text((*file)->ReadAt(3, 4).ValueOrDie()), "defg");
  EXPECT_TRUE((*file)->Close().ok());
}

TEST_F(LocalStoreTest, ListIsRecursiveSortedAndFiltered) {
  for (const char* key :
       {"t/_delta_log/00002.json", "t/_delta_log/00000.json", "t/_delta_log/00001.json",
        "t/part-1.parquet", "t/day=2/x.parquet", "t2/other", "top"}) {
    ASSERT_TRUE(store_->Put(key, Bytes(key)).ok());
  }
  // A write in progress (its temporary file) is not an object.
  std::ofstream(root() + "/t/_delta_log/" + std::string(kTempFilePrefix) + "abc") << "x";

  auto all = store_->List("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Keys(*all), (std::vector<std::string>{
                            "t/_delta_log/00000.json", "t/_delta_log/00001.json",
                            "t/_delta_log/00002.json", "t/day=2/x.parquet",
                            "t/part-1.parquet", "t2/other", "top"}));
  EXPECT_EQ((*all)[0].size,
            static_cast<int64_t>(std::string("t/_delta_log/00000.json").size()));

  EXPECT_EQ(Keys(*store_->List("t/")).size(), 5u);
  EXPECT_EQ(Keys(*store_->List("t")).size(), 7u) << "a prefix, not a directory";
  EXPECT_EQ(Keys(*store_->List("t2")), std::vector<std::string>{"t2/other"});
  EXPECT_EQ(Keys(*store_->List("t/_delta_log/0000")).size(), 3u);
  EXPECT_EQ(Keys(*store_->List("t/part")),
            (std::vector<std::string>{"t/part-1.parquet"}));
  EXPECT_TRUE(store_->List("missing/").ValueOrDie().empty());
  EXPECT_TRUE(store_->List("top/below").ValueOrDie().empty());

  EXPECT_EQ(
      Keys(*store_->List("t/_delta_log/", "t/_delta_log/00000.json")),
      (std::vector<std::string>{"t/_delta_log/00001.json", "t/_delta_log/00002.json"}));
  EXPECT_EQ(Keys(*store_->List("", "t/day=2/x.parquet")),
            (std::vector<std::string>{"t/part-1.parquet", "t2/other", "top"}));
  EXPECT_EQ(Keys(*store_->List("", "t2")), (std::vector<std::string>{"t2/other", "top"}));
  EXPECT_TRUE(store_->List("", "zzz").ValueOrDie().empty());

  EXPECT_TRUE(store_->List("/t").status().IsInvalid());
  EXPECT_TRUE(store_->List("../").status().IsInvalid());
  EXPECT_TRUE(store_->List("a//b").status().IsInvalid());
}

TEST_F(LocalStoreTest, PutIfAbsent) {
  ASSERT_TRUE(store_->PutIfAbsent("log/0.json", Bytes("first")).ok());
  const auto status = store_->PutIfAbsent("log/0.json", Bytes("second"));
  EXPECT_TRUE(IsAlreadyExists(status)) << status.ToString();
  EXPECT_NE(status.message().find("log/0.json"), std::string::npos);
  EXPECT_EQ(Text(*store_->Get("log/0.json")), "first");
  EXPECT_EQ(FilesUnder(root()), std::vector<std::string>{"log/0.json"})
      << "the loser's temporary file is gone";
}

TEST_F(LocalStoreTest, PutIfAbsentRaceHasExactlyOneWinner) {
  constexpr int kRounds = 25;
  testing::ExpectOnePutIfAbsentWinner(*store_, /*writers=*/8, kRounds);
  EXPECT_EQ(FilesUnder(root()).size(), static_cast<size_t>(kRounds));
}

TEST_F(LocalStoreTest, UploadAppearsOnlyOnClose) {
  auto upload = store_->OpenUpload("t/big.parquet");
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  ASSERT_TRUE((*upload)->Write("abc", 3).ok());
  ASSERT_TRUE((*upload)->Write(Bytes("def")).ok());
  EXPECT_EQ((*upload)->Tell().ValueOrDie(), 6);
  EXPECT_TRUE(store_->Head("t/big.parquet").status().IsKeyError());
  EXPECT_TRUE(store_->List("").ValueOrDie().empty()) << "the temporary file is hidden";
  ASSERT_TRUE((*upload)->Close().ok());
  EXPECT_TRUE((*upload)->closed());
  EXPECT_EQ(Text(*store_->Get("t/big.parquet")), "abcdef");
  EXPECT_TRUE((*upload)->Write("x", 1).IsInvalid());
}

TEST_F(LocalStoreTest, AbortedOrDroppedUploadLeavesNothing) {
  {
    auto upload = store_->OpenUpload("t/aborted");
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Write("abc", 3).ok());
    ASSERT_TRUE((*upload)->Abort().ok());
    EXPECT_TRUE((*upload)->closed());
    EXPECT_TRUE((*upload)->Close().ok()) << "Close after Abort commits nothing";
  }
  {
    auto upload = store_->OpenUpload("t/dropped");
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Write("abc", 3).ok());
  }  // destroyed without Close
  EXPECT_TRUE(store_->Head("t/aborted").status().IsKeyError());
  EXPECT_TRUE(store_->Head("t/dropped").status().IsKeyError());
  EXPECT_TRUE(FilesUnder(root()).empty());
}

TEST_F(LocalStoreTest, InvalidKeysAreRefusedEverywhere) {
  const std::string long_key(1025, 'k');
  for (const std::string& key :
       {std::string(""), std::string("/abs"), std::string("a/"), std::string("a//b"),
        std::string(".."), std::string("../escape"), std::string("a/../../b"),
        std::string("a/./b"), std::string("."), std::string("a\0b", 3), long_key}) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(ValidateKey(key).IsInvalid());
    EXPECT_TRUE(store_->Put(key, Bytes("x")).IsInvalid());
    EXPECT_TRUE(store_->PutIfAbsent(key, Bytes("x")).IsInvalid());
    EXPECT_TRUE(store_->Get(key).status().IsInvalid());
    EXPECT_TRUE(store_->GetRange(key, 0, 1).status().IsInvalid());
    EXPECT_TRUE(store_->Head(key).status().IsInvalid());
    EXPECT_TRUE(store_->Delete(key).IsInvalid());
    EXPECT_TRUE(store_->OpenUpload(key).status().IsInvalid());
    EXPECT_TRUE(store_->OpenRead(key).status().IsInvalid());
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/escape"));

  for (const char* key : {"a", "b/c.d", "..a/b..", "x/.hidden", "día/文件 1+2%20.json"}) {
    EXPECT_TRUE(ValidateKey(key).ok()) << key;
    EXPECT_TRUE(store_->Put(key, Bytes(key)).ok()) << key;
    EXPECT_EQ(Text(*store_->Get(key)), key);
  }
  const auto nested = store_->Put("a/b", Bytes("x"));
  EXPECT_TRUE(nested.IsIOError()) << nested.ToString();
  EXPECT_NE(nested.message().find("an object (file) of that name exists"),
            std::string::npos)
      << nested.ToString();
}

TEST(OpenObjectStoreTest, DispatchesOnTheScheme) {
  char pattern[] = "/tmp/arrowport-open-store-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  auto local = OpenObjectStore("file://" + dir + "/lake/", S3Settings{});
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_EQ((*local)->url(), "file://" + dir + "/lake");
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/lake"));
  std::filesystem::remove_all(dir);

  S3Settings s3;
  s3.endpoint = "http://127.0.0.1:1";
  auto remote = OpenObjectStore("s3://my-bucket/events/", s3);
  ASSERT_TRUE(remote.ok()) << remote.status().ToString();
  EXPECT_EQ((*remote)->url(), "s3://my-bucket/events");
  EXPECT_EQ(OpenObjectStore("s3://my-bucket", s3).ValueOrDie()->url(), "s3://my-bucket");

  for (const char* url : {"file://relative/dir", "file:relative", "/abs/no/scheme",
                          "http://host/x", "s3://", "s3://Bad_Bucket/x", "s3://ab",
                          "s3://bucket//x", "s3://bucket/../x", "gs://bucket/x"}) {
    EXPECT_TRUE(OpenObjectStore(url, s3).status().IsInvalid()) << url;
  }
  s3.endpoint = "127.0.0.1:9000";
  EXPECT_TRUE(OpenObjectStore("s3://bucket/x", s3).status().IsInvalid())
      << "an endpoint without its scheme";
  s3.endpoint = "http://127.0.0.1:9000";
  s3.part_bytes = 1 << 20;
  EXPECT_TRUE(OpenObjectStore("s3://bucket/x", s3).status().IsInvalid())
      << "part < 5 MiB";
}

}  // namespace local_store_test
}  // namespace arrowport::objectstore
