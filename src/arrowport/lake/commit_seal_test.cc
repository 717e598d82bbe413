#include "arrowport/lake/commit_seal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake {
namespace commit_seal_test {

SealedFacts Facts() {
  SealedFacts facts;
  facts.format = "ducklake";
  facts.table = "4f1c2a0e-0000-4000-8000-000000000001";
  facts.location = "file:///lake/events";
  facts.snapshot = 7;
  facts.app_id = "arrowport:req-1";
  facts.txn_version = 0;
  facts.rows = 5;
  facts.batches = 1;
  facts.files = {"a.parquet\n100\n{\"numRecords\":3}",
                 "b.parquet\n90\n{\"numRecords\":2}"};
  return facts;
}

std::shared_ptr<const SealKey> Key(const std::string& secret) {
  return SealKey::FromSecret(secret, "test").ValueOrDie();
}

TEST(SealKey, ASealVerifiesOnlyForWhatItBinds) {
  const auto key = Key(std::string(40, 'k'));
  const SealedFacts facts = Facts();
  const std::string seal = key->Seal(facts);
  EXPECT_EQ(seal.size(), 64u);
  EXPECT_TRUE(key->Verifies(facts, seal));
  SealedFacts reordered = facts;  // the files' order is not the seal's business
  std::swap(reordered.files[0], reordered.files[1]);
  EXPECT_TRUE(key->Verifies(reordered, seal));
  // Any fact changed (another table id or location, snapshot, request, version, count,
  // file): no.
  std::vector<SealedFacts> changed(10, facts);
  changed[0].table = "another";
  changed[1].snapshot = 8;
  changed[2].app_id = "arrowport:req-2";
  changed[3].txn_version = 1;
  changed[4].rows = 5000000;
  changed[5].batches = 2;
  changed[6].files.pop_back();
  changed[7].files[0] = "a.parquet\n100\n{\"numRecords\":4}";
  changed[8].format = "delta";
  changed[9].location = "file:///lake/another";
  for (const auto& other : changed) EXPECT_FALSE(key->Verifies(other, seal));
  // Another key, an empty or cut seal: no.
  EXPECT_FALSE(Key(std::string(40, 'x'))->Verifies(facts, seal));
  EXPECT_FALSE(key->Verifies(facts, ""));
  EXPECT_FALSE(key->Verifies(facts, seal.substr(0, 63)));
}

TEST(SealKey, FieldsCannotBeShiftedIntoOneAnother) {
  const auto key = Key(std::string(40, 'k'));
  SealedFacts a = Facts(), b = Facts();
  a.files = {"x\n1\n2"};
  b.files = {"x", "1\n2"};
  EXPECT_NE(key->Seal(a), key->Seal(b));
  a.table = "ab";
  a.app_id = "c";
  b.files = a.files;
  b.table = "a";
  b.app_id = "bc";
  EXPECT_NE(key->Seal(a), key->Seal(b));
}

TEST(SealKey, ASecretIsAtLeast32BytesAndItsBlanksDoNotCount) {
  auto short_secret =
      SealKey::FromSecret("  " + std::string(31, 'a') + "\n", "lake.commit_key_file 'k'");
  ASSERT_FALSE(short_secret.ok());
  EXPECT_NE(short_secret.status().message().find("at least 32"), std::string::npos);
  EXPECT_NE(short_secret.status().message().find("lake.commit_key_file 'k'"),
            std::string::npos);
  const std::string secret = SealKey::NewSecret();
  EXPECT_EQ(secret.size(), 64u);
  EXPECT_NE(secret, SealKey::NewSecret());
  const std::string seal = Key(secret)->Seal(Facts());
  EXPECT_TRUE(Key(secret + "\n")->Verifies(Facts(), seal));  // the same key on every node
}

TEST(SealKey, AKeyFileOthersCanReadIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/lake.key";
  {
    std::ofstream out(path);
    out << SealKey::NewSecret() << "\n";
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto refused = SealKey::FromFile(path);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("mode 0644"), std::string::npos)
      << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("chmod 600 " + path), std::string::npos);
  // Its group is another reader too (the outside review: an ACL's grants show in the
  // group bits only, and only the other bits were looked at).
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_FALSE(SealKey::FromFile(path).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0620), 0);
  EXPECT_FALSE(SealKey::FromFile(path).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto read = SealKey::FromFile(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  auto again = SealKey::FromFile(path);
  EXPECT_EQ((*read)->Seal(Facts()), (*again)->Seal(Facts()));
  EXPECT_FALSE(SealKey::FromFile(dir.path()).ok());  // a directory
  EXPECT_FALSE(SealKey::FromFile(dir.path() + "/missing").ok());
}

}  // namespace commit_seal_test
}  // namespace arrowport::lake
