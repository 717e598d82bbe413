// The `backup:` section (issue 66): a new feature, so these failed before it (no keys).
#include <gtest/gtest.h>

#include "arrowport/config/backup_section.h"
#include "arrowport/config/config.h"

namespace arrowport::config {
namespace backup_section_test {

TEST(BackupConfig, ParsesScheduleDestinationAndRetention) {
  auto config = ParseYaml("backup:\n  every: 6h\n  to: /var/backups/arrowport\n  keep: 7\n",
                          "a.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_TRUE(Validate(*config).ok());
  EXPECT_EQ(config->backup.every_s, 6 * 3600);
  EXPECT_EQ(config->backup.to, "/var/backups/arrowport");
  EXPECT_EQ(config->backup.keep, 7);
}

TEST(BackupConfig, EnvironmentSetsTheSameKeys) {
  auto config = Load("", {"ARROWPORT_BACKUP_EVERY=30m", "ARROWPORT_BACKUP_TO=s3://b/p"}, {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->backup.every_s, 1800);
  EXPECT_EQ(config->backup.to, "s3://b/p");
}

TEST(BackupConfig, RefusesBadValuesNamingTheKey) {
  for (const char* yaml : {"backup:\n  every: 6 hours\n  to: /b\n",
                           "backup:\n  every: 400d\n  to: /b\n", "backup:\n  keep: -1\n"}) {
    auto config = ParseYaml(yaml, "a.yaml");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_NE(config.status().message().find("backup."), std::string::npos)
        << config.status().ToString();
  }
  auto no_destination = ParseYaml("backup:\n  every: 1h\n", "a.yaml");
  ASSERT_TRUE(no_destination.ok());
  auto st = Validate(*no_destination);
  EXPECT_NE(st.message().find("backup.to"), std::string::npos) << st.ToString();
  EXPECT_EQ(*ParseDurationSeconds("90"), 90);
  EXPECT_EQ(*ParseDurationSeconds("1d"), 86400);
}

}  // namespace backup_section_test
}  // namespace arrowport::config
