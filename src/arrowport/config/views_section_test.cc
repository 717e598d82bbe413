#include "arrowport/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace arrowport::config {
namespace views_section_test {

using Files = std::vector<std::string>;

TEST(Views, ScalarIsOneFileAndListIsOneViewOverAll) {
  auto config =
      ParseYaml("views: {one: a.parquet, both: [a.parquet, 'b/*.parquet']}\n", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->views.at("one"), Files{"a.parquet"});
  EXPECT_EQ(config->views.at("both"), (Files{"a.parquet", "b/*.parquet"}));
}

TEST(Views, MalformedEntriesNameTheKey) {
  for (const char* text :
       {"views: {v: []}\n", "views: {v: ''}\n", "views: {v: [a, '']}\n",
        "views: {v: ~}\n", "views: {bad-name: a.parquet}\n"}) {
    auto config = ParseYaml(text, "t.yaml");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_NE(config.status().message().find("t.yaml: key 'views."), std::string::npos)
        << config.status().message();
  }
}

TEST(Views, ParquetFlagsMakeOneViewReplacingTheConfiguredOne) {
  Overrides overrides;
  overrides.parquet_files = {"a.parquet", "b.parquet"};
  auto config = Load("", {}, overrides);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->views.at(kDefaultParquetView), (Files{"a.parquet", "b.parquet"}));

  overrides.parquet_view = "sales";
  config = Load("", {}, overrides);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->views.size(), 1u);
  EXPECT_EQ(config->views.at("sales"), (Files{"a.parquet", "b.parquet"}));

  overrides.parquet_view = "not a name";
  config = Load("", {}, overrides);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().rfind("--view: ", 0), 0u)
      << config.status().message();

  Overrides view_only;
  view_only.parquet_view = "sales";
  EXPECT_FALSE(Load("", {}, view_only).ok());
}

TEST(Views, CheckViewFilesFindsMissingFilesAndEmptyGlobs) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("arrowport_views_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "a.parquet") << "x";
  Config config;
  config.views["present"] = {(dir / "a.parquet").string(), (dir / "*.parquet").string(),
                             (dir / "**" / "*.parquet").string(),
                             "s3://bucket/x.parquet"};
  EXPECT_TRUE(CheckViewFiles(config, {}).ok());

  const std::vector<std::pair<std::string, std::string>> bad = {
      {(dir / "b.parquet").string(), "no such file"},
      {dir.string(), "is not a file"},
      {(dir / "*.csv").string(), "matches no file"},
      {(dir / "none" / "*.parquet").string(), "no such directory"},
  };
  for (const auto& [location, reason] : bad) {
    config.views["missing"] = {location};
    auto st = CheckViewFiles(config, {});
    ASSERT_FALSE(st.ok()) << location;
    EXPECT_NE(st.message().find("key 'views.missing'"), std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find(reason), std::string::npos) << st.message();
    // The view the flag made is named by the flag.
    Overrides overrides;
    overrides.parquet_files = {location};
    overrides.parquet_view = "missing";
    st = CheckViewFiles(config, overrides);
    EXPECT_EQ(st.message().rfind("--parquet: ", 0), 0u) << st.message();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace views_section_test
}  // namespace arrowport::config
