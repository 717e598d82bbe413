// The SQL shell's history file: libedit's format both ways, one line per entry, the
// newest entries kept, and never a write through a symbolic link swapped in later.
#include "arrowport/cli/history_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace arrowport::cli {
namespace history_file_test {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class HistoryFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("arrowport_history_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(HistoryFileFormatTest, EntriesRoundTripInLibeditsFormat) {
  const std::string entry = "SELECT 'a b',\n\t'\\x' AS \"Zürich\";\x1b";
  EXPECT_EQ(HistoryFile::Encode(entry),
            "SELECT\\040'a\\040b',\\012\\011'\\\\x'\\040AS\\040\"Zürich\";\\033");
  EXPECT_EQ(HistoryFile::Decode(HistoryFile::Encode(entry)), entry);
  // What libedit's strvis writes besides octal: controls, meta bytes, C escapes.
  EXPECT_EQ(HistoryFile::Decode("a\\^[b\\^?c\\M-a\\M^A\\s\\n\\\\"),
            "a\x1b" "b\x7f" "c\xe1\x81 \n\\");
}

TEST_F(HistoryFileTest, EachEntryIsOneLineAndTheNewestAreKept) {
  const fs::path path = dir_ / "history";
  {
    HistoryFile history(path.string());
    EXPECT_TRUE(history.Load(3).empty());
    for (const char* entry : {"SELECT 1;", ".mode csv", "SELECT\n2;"}) history.Append(entry);
  }
  EXPECT_EQ(Read(path), "_HiStOrY_V2_\nSELECT\\0401;\n.mode\\040csv\nSELECT\\0122;\n");
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  HistoryFile again(path.string());
  EXPECT_EQ(again.Load(2), (std::vector<std::string>{".mode csv", "SELECT\n2;"}));
  EXPECT_EQ(Read(path), "_HiStOrY_V2_\n.mode\\040csv\nSELECT\\0122;\n");
}

TEST_F(HistoryFileTest, ALinkSwappedInIsNeverWrittenThrough) {
  const fs::path path = dir_ / "history";
  const fs::path target = dir_ / "elsewhere";
  std::ofstream(target) << "not yours\n";
  HistoryFile history(path.string());
  (void)history.Load(10);
  history.Append("SELECT 1;");
  fs::remove(path);
  fs::create_symlink(target, path);
  history.Append("SELECT 2;");
  EXPECT_FALSE(history.kept());
  history.Append("SELECT 3;");
  EXPECT_EQ(Read(target), "not yours\n");
  // A link there at the start: no history at all.
  HistoryFile linked(path.string());
  EXPECT_TRUE(linked.Load(10).empty());
  EXPECT_FALSE(linked.kept());
  EXPECT_EQ(Read(target), "not yours\n");
}

TEST_F(HistoryFileTest, AFifoIsRefusedWithoutWaitingForAReader) {
  const fs::path path = dir_ / "history";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  HistoryFile history(path.string());
  EXPECT_TRUE(history.Load(10).empty());
  EXPECT_FALSE(history.kept());
}

}  // namespace history_file_test
}  // namespace arrowport::cli
