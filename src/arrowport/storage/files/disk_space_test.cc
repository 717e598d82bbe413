#include "arrowport/storage/files/disk_space.h"

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "arrowport/common/status_detail.h"

namespace arrowport::storage {
namespace disk_space_test {

std::string TempDirectory() { return std::filesystem::temp_directory_path().string(); }

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

// The database's file deleted, or another file put at its path, while the server runs:
// writes are refused from then on (what they commit would be lost at the next start).
TEST(DiskWatchTest, WritesAreRefusedOnceTheDatabaseFileIsGone) {
  const std::string file = TempDirectory() + "/arrowport-disk-watch-" +
                           std::to_string(::getpid()) + ".duckdb";
  std::ofstream(file) << "x";
  std::ifstream held(file);  // as DuckDB holds it: its inode is not given to another file
  DiskWatch watch({TempDirectory()}, 0, file);
  EXPECT_TRUE(watch.CheckWrite().ok());
  std::filesystem::remove(file);
  std::ofstream(file) << "another file at the path";
  std::this_thread::sleep_for(DiskWatch::kFreshness);  // the last reading is too old
  auto refused = watch.CheckWrite();
  EXPECT_TRUE(refused.IsIOError()) << refused;
  EXPECT_NE(refused.message().find(file + " was deleted or replaced"), std::string::npos);
  EXPECT_EQ(watch.Check().file_gone, refused.message());
  std::filesystem::remove(file);
  EXPECT_FALSE(watch.CheckWrite().ok());
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

// A full reading is not reused: a write right after space was freed goes in. Before, a
// reading up to 20 ms old refused it (a client that freed space and wrote at once).
TEST(DiskWatchTest, AWriteRightAfterSpaceIsFreedGoesIn) {
  // A filesystem of our own, so that only this test changes its free space: a tmpfs
  // (the unit tests run as root in a mount namespace of their own; skipped elsewhere).
  char pattern[] = "/tmp/arrowport-disk-watch-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  ASSERT_NE(made, nullptr);
  const std::string directory = made;
  if (::mount("tmpfs", directory.c_str(), "tmpfs", 0, "size=8m") != 0) {
    std::filesystem::remove(directory);
    GTEST_SKIP() << "cannot mount a tmpfs here (not root?)";
  }
  // Unmounted and removed on every way out, a failed assertion included.
  struct Mounted {
    std::string path;
    ~Mounted() {
      ::umount2(path.c_str(), MNT_DETACH);
      std::filesystem::remove_all(path);
    }
  } mounted{directory};
  const std::string filler = directory + "/filler";
  {
    auto free = FreeBytesUnder(directory);
    ASSERT_TRUE(free.ok()) << free.status();
    std::ofstream out(filler, std::ios::binary);
    const std::string block(1 << 20, 'x');
    for (int64_t left = *free; left > (2 << 20); left -= block.size()) out << block;
  }
  DiskWatch watch({directory}, int64_t{4} << 20);
  const auto full = watch.Check();
  EXPECT_TRUE(full.full) << full.free_bytes;
  EXPECT_FALSE(watch.CheckWrite().ok());
  std::remove(filler.c_str());
  EXPECT_TRUE(watch.CheckWrite().ok()) << "refused on a reading from before space was freed";
  EXPECT_FALSE(watch.Last().full);
}

}  // namespace disk_space_test
}  // namespace arrowport::storage
