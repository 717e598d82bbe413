#include "arrowport/query/backup_manifest.h"

#include <gtest/gtest.h>

namespace arrowport::query {
namespace backup_manifest_test {

BackupManifest Sample() {
  BackupManifest manifest;
  manifest.id = "20260101T120000.000Z";
  manifest.created_at = "2026-01-01T12:00:00Z";
  manifest.server_version = "0.2.0";
  manifest.duckdb_version = "v2.0.0";
  manifest.files = {{kBackupDatabaseFile, 12288, std::string(64, 'a')}};
  manifest.tables = {{"main", "events", 3, "12345"}, {"arrowport", "requests", 1, "99"}};
  manifest.request_ids = {"r1 to main.events"};
  return manifest;
}

TEST(BackupManifestTest, RoundTripsThroughJson) {
  auto parsed = BackupManifest::Parse(Sample().ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->id, Sample().id);
  EXPECT_EQ(parsed->tables, Sample().tables);
  EXPECT_EQ(parsed->request_ids, Sample().request_ids);
  ASSERT_TRUE(parsed->File(kBackupDatabaseFile).ok());
  EXPECT_EQ(parsed->File(kBackupDatabaseFile)->sha256, std::string(64, 'a'));
}

TEST(BackupManifestTest, NamesLakeSnapshotsThatRestoreDoesNotNeed) {
  auto manifest = Sample();
  manifest.lake_tables = {{"lk", "lk", "file:///lake/lk", 7}, {"new", "new", "s3://b/n", -1}};
  const std::string json = manifest.ToJson();
  EXPECT_NE(json.find("\"version\": 7"), std::string::npos) << json;
  EXPECT_NE(json.find("\"version\": null"), std::string::npos) << json;
  auto parsed = BackupManifest::Parse(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->lake_tables.empty());  // restore ignores them
  // Nor does it mind what an older backup wrote there.
  std::string older = Sample().ToJson();
  older.replace(older.find("\"lake_tables\": []"), 17,
                "\"lake_tables\": \"not copied: the lake is its own backup\"");
  EXPECT_TRUE(BackupManifest::Parse(older).ok()) << older;
}

TEST(BackupManifestTest, RefusesDamagedOrIncompleteText) {
  const std::string json = Sample().ToJson();
  EXPECT_TRUE(BackupManifest::Parse(json.substr(0, json.size() / 2)).status().IsInvalid());
  EXPECT_TRUE(BackupManifest::Parse("[]").status().IsInvalid());
  auto no_files = Sample();
  no_files.files.clear();
  EXPECT_FALSE(BackupManifest::Parse(no_files.ToJson()).ok());
  auto bad_hash = Sample();
  bad_hash.files[0].sha256 = "xyz";
  auto refused = BackupManifest::Parse(bad_hash.ToJson());
  ASSERT_TRUE(refused.status().IsInvalid());
  EXPECT_NE(refused.status().message().find("sha256"), std::string::npos);
  auto path_name = Sample();
  path_name.files[0].name = "../database.duckdb";
  EXPECT_TRUE(BackupManifest::Parse(path_name.ToJson()).status().IsInvalid());
}

TEST(BackupManifestTest, CheckTablesNamesTheFirstDifference) {
  const auto manifest = Sample();
  EXPECT_TRUE(CheckTables(manifest, manifest.tables).ok());
  auto fewer_rows = manifest.tables;
  fewer_rows[0].rows = 2;
  auto st = CheckTables(manifest, fewer_rows);
  ASSERT_TRUE(st.IsInvalid());
  EXPECT_NE(st.message().find("main.events holds 2 rows"), std::string::npos) << st;
  auto other_sum = manifest.tables;
  other_sum[1].checksum = "98";
  EXPECT_TRUE(CheckTables(manifest, other_sum).IsInvalid());
  auto missing = manifest.tables;
  missing.pop_back();
  st = CheckTables(manifest, missing);
  EXPECT_NE(st.message().find("arrowport.requests is in the manifest but not"),
            std::string::npos) << st;
  auto extra = manifest.tables;
  extra.push_back({"main", "other", 0, "0"});
  EXPECT_NE(CheckTables(manifest, extra).message().find("main.other is in the database"),
            std::string::npos);
}

}  // namespace backup_manifest_test
}  // namespace arrowport::query
