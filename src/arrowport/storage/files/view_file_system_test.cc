#include "arrowport/storage/files/view_file_system.h"

#include <gtest/gtest.h>

namespace arrowport::storage {
namespace view_file_system_test {

TEST(ViewFileSystemTest, APatternNamesTheFilesItsGlobMatchesAndNoOthers) {
  EXPECT_TRUE(ViewPatternMatches("/d/parts/p*.parquet", "/d/parts/p1.parquet"));
  EXPECT_TRUE(ViewPatternMatches("/d/parts/p*.parquet", "/d/parts/p.parquet"));
  EXPECT_TRUE(ViewPatternMatches("/d/parts/p?.parquet", "/d/parts/p7.parquet"));
  EXPECT_TRUE(ViewPatternMatches("/d/parts/p[12].parquet", "/d/parts/p2.parquet"));
  EXPECT_FALSE(ViewPatternMatches("/d/parts/p[12].parquet", "/d/parts/p3.parquet"));
  // Beside the matched files, under them, above them: not named.
  EXPECT_FALSE(ViewPatternMatches("/d/parts/p*.parquet", "/d/parts/secret.csv"));
  EXPECT_FALSE(ViewPatternMatches("/d/parts/p*.parquet", "/d/parts/q1.parquet"));
  EXPECT_FALSE(ViewPatternMatches("/d/parts/p*.parquet", "/d/parts/sub/p1.parquet"));
  EXPECT_FALSE(ViewPatternMatches("/d/parts/p*.parquet", "/d/p1.parquet"));
  EXPECT_FALSE(ViewPatternMatches("/d/parts/*", "/d/parts/sub/x.csv"));
  // `**` is any number of folders, none included, as DuckDB's glob reads it.
  EXPECT_TRUE(ViewPatternMatches("/d/**/x.parquet", "/d/x.parquet"));
  EXPECT_TRUE(ViewPatternMatches("/d/**/x.parquet", "/d/a/b/x.parquet"));
  EXPECT_FALSE(ViewPatternMatches("/d/**/x.parquet", "/e/a/x.parquet"));
  // A file is itself and nothing else.
  EXPECT_TRUE(ViewPatternMatches("/d/one.csv", "/d/one.csv"));
  EXPECT_FALSE(ViewPatternMatches("/d/one.csv", "/d/one.csv.gz"));
  EXPECT_FALSE(ViewPatternMatches("/d/one.csv", "/d/two.csv"));
}

TEST(ViewFileSystemTest, ViewPathsAreAbsoluteAndNormal) {
  EXPECT_EQ(ViewPathOf("/d/./parts/../parts/p*.parquet"),
            "arrowport-view:///d/parts/p*.parquet");
  const std::string relative = ViewPathOf("data/x.csv");
  EXPECT_EQ(relative.rfind("arrowport-view:///", 0), 0u) << relative;
  EXPECT_NE(relative.find("/data/x.csv"), std::string::npos) << relative;
}

}  // namespace view_file_system_test
}  // namespace arrowport::storage
