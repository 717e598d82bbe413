#include "arrowport/storage/disk_space.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "arrowport/common/status_detail.h"

namespace arrowport::storage {

namespace {
std::string TempDirectory() { return std::filesystem::temp_directory_path().string(); }
}  // namespace

// Below the threshold a write is refused with the disk-full kind (Flight
// RESOURCE_EXHAUSTED, HTTP 507), naming the directory and both amounts.
TEST(DiskWatchTest, BelowTheThresholdWritesAreRefusedSayingWhereAndHowMuch) {
  const int64_t more_than_any_disk = int64_t{1} << 62;
  DiskWatch watch({TempDirectory()}, more_than_any_disk);
  const auto space = watch.Check();
  EXPECT_TRUE(space.full);
  EXPECT_GE(space.free_bytes, 0);
  auto refused = watch.CheckWrite();
  ASSERT_TRUE(HasErrorKind(refused, ErrorKind::kDiskFull)) << refused;
  const std::string message = refused.message();
  EXPECT_EQ(message.rfind("disk full: ", 0), 0u) << message;
  EXPECT_NE(message.find(" MiB free under " + space.path), std::string::npos) << message;
  EXPECT_NE(message.find("(storage.min_free_mb)"), std::string::npos) << message;
}

TEST(DiskWatchTest, AboveTheThresholdOrOffWritesGoOn) {
  DiskWatch small({TempDirectory()}, 1);
  EXPECT_TRUE(small.CheckWrite().ok());
  EXPECT_FALSE(small.Last().full);
  DiskWatch off({TempDirectory()}, 0);
  EXPECT_TRUE(off.CheckWrite().ok());
}

// DuckDB makes its temp directory only when it first spills: the nearest existing
// ancestor stands for it, and one filesystem is read once.
TEST(DiskWatchTest, AMissingDirectoryIsReadThroughItsAncestor) {
  const std::string missing = TempDirectory() + "/arrowport-no-such-dir/x.duckdb.tmp";
  auto free = FreeBytesUnder(missing);
  ASSERT_TRUE(free.ok()) << free.status();
  EXPECT_GT(*free, 0);
  DiskWatch watch({TempDirectory(), missing}, int64_t{1} << 62);
  EXPECT_TRUE(watch.Check().full);
}

}  // namespace arrowport::storage
