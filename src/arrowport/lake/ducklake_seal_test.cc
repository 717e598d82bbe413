// The seals of DuckLake commits against a real SQLite catalog (commit_seal.h).
#include <gtest/gtest.h>

#include "arrowport/lake/catalog_connection.h"
#include "arrowport/lake/ducklake_log.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake {
namespace ducklake_seal_test {

using testing::Append;
using testing::Batch;
using testing::TempDir;
using testing::TestSealKey;

// A DuckLake table `table` of the lake in `dir` (catalog.sqlite, data/), as a node with
// the tests' key opens it.
std::shared_ptr<LakeTable> OpenDuckLake(const TempDir& dir, const std::string& table) {
  config::LakeConfig lake;
  lake.format = config::LakeFormat::kDuckLake;
  lake.catalog = "sqlite:" + dir.path() + "/catalog.sqlite";
  lake.data_path = dir.path() + "/data/";
  lake.table = table;
  lake.url = "file://" + lake.data_path + lake.schema + "/" + table + "/";
  auto store = objectstore::OpenObjectStore(lake.url, {}).ValueOrDie();
  auto log = std::make_unique<DuckLakeLog>(
      DuckLakeTableName{lake.catalog, lake.data_path, lake.schema, lake.table}, TestSealKey());
  return std::make_shared<LakeTable>(store, lake, nullptr, nullptr, std::move(log));
}

// Issue 64 (the attack on its fix): the seal bound the table's table_uuid, and the reader
// took the marker's own "table" text for which table it is. A DuckDB user of the lake
// gave events_b the table_uuid of events_a and retargeted Arrowport's sealed marker of
// req-1 in events_a to events_b: a retry of req-1 at events_b (after a restart) was
// answered duplicate, nothing stored. The seal binds the configured table too.
TEST(DuckLakeSeal, AMarkerRetargetedToAnotherTableIsNoDuplicateThere) {
  TempDir dir;
  AppendOptions options;
  options.request_id = "req-1";
  ASSERT_GE(Append(OpenDuckLake(dir, "events_a"), {Batch(0, 10, 1)}, options).ValueOrDie(), 0);
  ASSERT_GE(Append(OpenDuckLake(dir, "events_b"), {Batch(100, 1, 1)}).ValueOrDie(), 0);
  {
    auto catalog = OpenCatalog("sqlite:" + dir.path() + "/catalog.sqlite").ValueOrDie();
    ASSERT_EQ(catalog
                  ->Execute("UPDATE ducklake_table SET table_uuid = (SELECT table_uuid FROM "
                            "ducklake_table WHERE table_name = 'events_a') WHERE "
                            "table_name = 'events_b'")
                  .ValueOrDie(),
              1);
    ASSERT_EQ(catalog
                  ->Execute("UPDATE ducklake_snapshot_changes SET commit_extra_info = "
                            "replace(commit_extra_info, '\"main.events_a\"', "
                            "'\"main.events_b\"') WHERE commit_extra_info LIKE '%req-1%'")
                  .ValueOrDie(),
              1);
  }
  auto b = OpenDuckLake(dir, "events_b");
  EXPECT_EQ(b->Latest().ValueOrDie()->sealed_txns.count("arrowport:req-1"), 0u);
  EXPECT_GE(Append(b, {Batch(200, 5, 1)}, options).ValueOrDie(), 0);
  EXPECT_EQ(Append(b, {Batch(200, 5, 1)}, options).ValueOrDie(), -1);  // its own: sealed
  EXPECT_EQ(b->Latest().ValueOrDie()->num_records(), 6);
}

}  // namespace ducklake_seal_test
}  // namespace arrowport::lake
