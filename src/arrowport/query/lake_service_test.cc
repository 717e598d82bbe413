// Reading lake tables (LakeService): a Delta table in a temporary directory, written by
// the lake layer, read back through the view the service makes in a real DuckDB.
#include "arrowport/query/lake_service.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>

#include "arrow/api.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::query {
namespace lake_service_test {

using lake::testing::Batch;
using lake::testing::TempDir;

// `n` rows of an id and two random doubles (about 16 bytes a row in Parquet): files big
// enough to be read in parts.
std::shared_ptr<arrow::RecordBatch> RandomBatch(int64_t start, int64_t n, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> any(0, 1);
  arrow::Int64Builder ids;
  arrow::DoubleBuilder a, b;
  for (int64_t i = start; i < start + n; ++i) {
    (void)ids.Append(i);
    (void)a.Append(any(random));
    (void)b.Append(any(random));
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()),
                               arrow::field("a", arrow::float64()),
                               arrow::field("b", arrow::float64())});
  return arrow::RecordBatch::Make(
      schema, n,
      {ids.Finish().ValueOrDie(), a.Finish().ValueOrDie(), b.Finish().ValueOrDie()});
}

class LakeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::DatabaseOptions options;
    options.path = ":memory:";
    options.lake_stores = stores_;
    database_ = storage::Database::Open(options).ValueOrDie();
    config::Config config;
    config::StreamConfig events;
    events.target_table = "events";
    events.sink = config::Sink::kLake;
    events.lake.url = dir_.url();
    config.streams["events"] = events;
    router_ = std::make_unique<ingest::StreamRouter>(config);
    service_ = std::make_unique<LakeService>(database_.get(), stores_, &catalog_,
                                             router_.get(), &logger_);
  }

  // A commit to the stream's table, as a request through this process makes one.
  int64_t Write(const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
    auto table = catalog_.Table(router_->Route("events").lake).ValueOrDie();
    return lake::testing::Append(table, batches).ValueOrDie();
  }

  arrow::Result<int64_t> Count(const std::string& sql) {
    ARROW_ASSIGN_OR_RAISE(auto conn, database_->Connect());
    ARROW_ASSIGN_OR_RAISE(auto table, conn->QueryTable(sql));
    ARROW_ASSIGN_OR_RAISE(auto scalar, table->column(0)->GetScalar(0));
    return std::static_pointer_cast<arrow::Int64Scalar>(scalar)->value;
  }

  LakeService::Figures Figures() {
    auto all = service_->figures();
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? LakeService::Figures{} : all.front();
  }

  TempDir dir_;
  Logger logger_;
  storage::LakeStores stores_;
  std::unique_ptr<storage::Database> database_;
  lake::LakeCatalog catalog_{objectstore::S3Settings{}, &logger_};
  std::unique_ptr<ingest::StreamRouter> router_;
  std::unique_ptr<LakeService> service_;
};

TEST_F(LakeServiceTest, AViewShowsThePublishedSnapshotUntilTheNextCommitIsPublished) {
  EXPECT_FALSE(Count("SELECT count(*) FROM events").ok());  // no view before a refresh
  ASSERT_EQ(Write({Batch(0, 30)}), 0);
  ASSERT_TRUE(service_->Refresh("events").ok());
  EXPECT_EQ(Count("SELECT count(*) FROM events").ValueOrDie(), 30);
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE day = '2024-01-02'").ValueOrDie(), 10);

  ASSERT_EQ(Write({Batch(30, 10)}), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM events").ValueOrDie(), 30);  // the old snapshot
  service_->Committed("events");  // this process's commit: no store read
  EXPECT_EQ(Count("SELECT count(*) FROM events").ValueOrDie(), 40);
  const auto figures = Figures();
  EXPECT_EQ(figures.stream, "events");
  EXPECT_EQ(figures.version, 1);
  EXPECT_EQ(figures.files, 2);
  EXPECT_EQ(figures.state, LakeService::kStateOk);
  EXPECT_EQ(figures.commits, 2);
  // A table stream is none of the service's business.
  EXPECT_TRUE(service_->Refresh("not_a_lake").ok());
  EXPECT_EQ(service_->figures().size(), 1u);
}

TEST_F(LakeServiceTest, ARefusedTableGetsAViewThatFailsWithTheReason) {
  ASSERT_EQ(Write({Batch(0, 30)}), 0);
  ASSERT_TRUE(service_->Refresh("events").ok());
  // Another writer upgrades the table to a protocol this server cannot read.
  std::ofstream(dir_.path() + "/_delta_log/00000000000000000001.json")
      << R"({"protocol":{"minReaderVersion":4,"minWriterVersion":7}})" << "\n";
  const auto refused = service_->Refresh("events");
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(HasErrorKind(refused, ErrorKind::kTableRefused)) << refused.ToString();
  EXPECT_NE(refused.message().find("reader version 4"), std::string::npos)
      << refused.message();
  const auto figures = Figures();
  EXPECT_EQ(figures.state, LakeService::kStateRefused);
  EXPECT_NE(figures.error.find("reader version 4"), std::string::npos) << figures.error;
  // The view fails every read with the reason, not the old snapshot's rows.
  const auto read = Count("SELECT count(*) FROM events");
  ASSERT_FALSE(read.ok()) << "read " << *read << " rows of a refused table";
  EXPECT_NE(read.status().message().find("reader version 4"), std::string::npos)
      << read.status().message();
  EXPECT_FALSE(service_->Layout("events").has_value());
  EXPECT_FALSE(service_->PartSql("events", {0, 0, 2}).ok());
}

TEST_F(LakeServiceTest, ATableRefusedBeforeItsFirstViewStillGetsAViewSayingWhy) {
  ASSERT_EQ(Write({Batch(0, 30)}), 0);
  std::ofstream(dir_.path() + "/_delta_log/00000000000000000001.json")
      << R"({"protocol":{"minReaderVersion":4,"minWriterVersion":7}})" << "\n";
  EXPECT_FALSE(service_->Refresh("events").ok());
  // Not "table events does not exist": the reader learns why it cannot read it.
  const auto read = Count("SELECT count(*) FROM events");
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("reader version 4"), std::string::npos)
      << read.status().message();
}

TEST_F(LakeServiceTest, ABigTableIsReadInDisjointPartsOfItsFiles) {
  // Three files of about 6 MB: more than one 4 MiB part's worth each.
  constexpr int64_t kRows = 400'000;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Write({RandomBatch(i * kRows, kRows, i)}), i);
  ASSERT_TRUE(service_->Refresh("events").ok());
  const auto layout = service_->Layout("events");
  ASSERT_TRUE(layout.has_value()) << Figures().bytes << " bytes in " << Figures().files;
  EXPECT_EQ(layout->version, 2);
  EXPECT_EQ(layout->parts, 3);  // at most one part per file
  int64_t rows = 0;
  for (int part = 0; part < layout->parts; ++part) {
    auto sql = service_->PartSql("events", {layout->version, part, layout->parts});
    ASSERT_TRUE(sql.ok()) << sql.status().ToString();
    const int64_t in_part = Count("SELECT count(*) FROM (" + *sql + ")").ValueOrDie();
    EXPECT_EQ(in_part, kRows) << "part " << part;  // files of equal size: one each
    rows += in_part;
  }
  EXPECT_EQ(rows, 3 * kRows);
  // A ticket of another split (the table changed since) is refused, not misread.
  const auto stale = service_->PartSql("events", {layout->version, 0, 2});
  EXPECT_TRUE(stale.status().IsInvalid()) << stale.status().ToString();
  EXPECT_TRUE(service_->PartSql("other", {0, 0, 2}).status().IsKeyError());
  EXPECT_FALSE(service_->Layout("other").has_value());
}

TEST_F(LakeServiceTest, ASmallTableIsOnePart) {
  ASSERT_EQ(Write({Batch(0, 30)}), 0);
  ASSERT_EQ(Write({Batch(30, 30)}), 1);
  ASSERT_TRUE(service_->Refresh("events").ok());
  ASSERT_EQ(Figures().version, 1);  // published: the one part is the layout's, not nothing
  EXPECT_FALSE(service_->Layout("events").has_value());
}

}  // namespace lake_service_test
}  // namespace arrowport::query
