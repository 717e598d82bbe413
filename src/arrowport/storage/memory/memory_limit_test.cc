#include "arrowport/storage/memory/memory_limit.h"

#include <gtest/gtest.h>

namespace arrowport::storage {
namespace memory_limit_test {

TEST(MemoryLimit, DefaultIsAQuarterOfRamHalfTheCgroupAndAtMostOneGiB) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(DefaultMemoryLimitBytes(64 * kGiB, std::nullopt), kGiB);
  EXPECT_EQ(DefaultMemoryLimitBytes(2 * kGiB, std::nullopt), kGiB / 2);
  EXPECT_EQ(DefaultMemoryLimitBytes(64 * kGiB, kGiB), kGiB / 2);
  EXPECT_EQ(DefaultMemoryLimitBytes(64 * kGiB, 100 << 20), kMinDefaultMemoryLimit);
  EXPECT_EQ(DefaultMemoryLimitBytes(std::nullopt, std::nullopt), kGiB);
  const int64_t here = DefaultMemoryLimitBytes();
  EXPECT_GE(here, kMinDefaultMemoryLimit);
  EXPECT_LE(here, kMaxDefaultMemoryLimit);
  EXPECT_EQ(MemoryLimitSetting(kGiB), "1024MiB");
}

}  // namespace memory_limit_test
}  // namespace arrowport::storage

#include <cstdio>

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {
namespace memory_limit_test {

std::string Setting(Database& database) {
  auto conn = database.Connect();
  EXPECT_TRUE(conn.ok()) << conn.status().ToString();
  auto table = (*conn)->QueryTable("SELECT current_setting('memory_limit')::VARCHAR AS v");
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return (*(*table)->column(0)->GetScalar(0))->ToString();
}

// DuckDB's own default (80% of RAM) let its buffer pool push a long ingest past 1 GiB.
TEST(MemoryLimit, FileDatabaseGetsTheDerivedDefaultUnlessConfigured) {
  const std::string path = ::testing::TempDir() + "/arrowport_memory_limit_test.duckdb";
  std::remove(path.c_str());
  DatabaseOptions options;
  options.path = path;
  {
    auto database = Database::Open(options);
    ASSERT_TRUE(database.ok()) << database.status().ToString();
    DatabaseOptions reference;
    reference.path = ":memory:";
    reference.memory_limit = MemoryLimitSetting(DefaultMemoryLimitBytes());
    auto expected = Database::Open(reference);
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    EXPECT_EQ(Setting(**database), Setting(**expected));
    EXPECT_EQ((*database)->memory_limit(), Setting(**database));
  }
  options.memory_limit = "300MiB";
  {
    auto database = Database::Open(options);
    ASSERT_TRUE(database.ok()) << database.status().ToString();
    EXPECT_EQ((*database)->memory_limit(), "300.0 MiB");
  }
  std::remove(path.c_str());
  std::remove((path + ".wal").c_str());
}

}  // namespace memory_limit_test
}  // namespace arrowport::storage
