#include "arrowport/http/seed_body.h"

#include <gtest/gtest.h>

#include <string>

#include "arrow/api.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/writer.h"
#include "arrow/util/base64.h"

namespace arrowport::http {
namespace seed_body_test {

std::string StreamOf(const std::shared_ptr<arrow::RecordBatch>& batch) {
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  auto writer = arrow::ipc::MakeStreamWriter(sink, batch->schema()).ValueOrDie();
  EXPECT_TRUE(writer->WriteRecordBatch(*batch).ok());
  EXPECT_TRUE(writer->Close().ok());
  return sink->Finish().ValueOrDie()->ToString();
}

std::shared_ptr<arrow::RecordBatch> SmallBatch() {
  arrow::Int64Builder builder;
  EXPECT_TRUE(builder.AppendValues({1, 2, 3}).ok());
  auto array = builder.Finish().ValueOrDie();
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("id", arrow::int64())}), 3,
                                  {array});
}

std::shared_ptr<CappedMemoryPool> Pool() {
  return std::make_shared<CappedMemoryPool>(arrow::default_memory_pool(), 1 << 20, "test");
}

TEST(SeedBodyTest, ParsesTargetTableAndData) {
  const std::string data = StreamOf(SmallBatch());
  auto seed = ParseSeedBody("events", R"({"config": {"target_table": "t1"}, "batch": {"data": ")" +
                                          arrow::util::base64_encode(data) + "\"}}");
  ASSERT_TRUE(seed.ok()) << seed.status().ToString();
  EXPECT_EQ(seed->request.stream, "events");
  EXPECT_EQ(seed->request.table, "t1");
  EXPECT_EQ(seed->request.protocol, "http-json");
  EXPECT_EQ(seed->data->ToString(), data);
  auto reader = OpenSeedBatches(*seed, Pool(), 1 << 20);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto table = (*reader)->ToTable();
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ((*table)->num_rows(), 3);
}

TEST(SeedBodyTest, SchemaGivenApartIsPutInFront) {
  const std::string whole = StreamOf(SmallBatch());
  const std::string schema =
      arrow::ipc::SerializeSchema(*SmallBatch()->schema()).ValueOrDie()->ToString();
  ASSERT_EQ(whole.compare(0, schema.size(), schema), 0);
  auto seed = ParseSeedBody("s", R"({"batch": {"arrow_schema": ")" +
                                     arrow::util::base64_encode(schema) + R"(", "data": ")" +
                                     arrow::util::base64_encode(whole.substr(schema.size())) +
                                     "\"}}");
  ASSERT_TRUE(seed.ok()) << seed.status().ToString();
  auto reader = OpenSeedBatches(*seed, Pool(), 1 << 20);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->ToTable().ValueOrDie()->num_rows(), 3);
}

TEST(SeedBodyTest, MalformedBodiesAreInvalid) {
  for (const std::string body :
       {"", "[1]", "{\"batch\": 1}", "{\"batch\": {\"data\": 5}}", "{\"batch\": {}}",
        "{\"batch\": {\"data\": \"%%%\"}}",
        "{\"config\": {\"target_table\": \"bad name;\"}, \"batch\": {\"data\": \"\"}}",
        "{\"batch\": {\"data\": \"\", \"arrow_schema\": \"@@\"}}"}) {
    auto seed = ParseSeedBody("s", body);
    EXPECT_TRUE(seed.status().IsInvalid()) << body << ": " << seed.status().ToString();
  }
}

TEST(SeedBodyTest, DataThatIsNotArrowIsInvalid) {
  auto seed = ParseSeedBody("s", R"({"batch": {"data": "aGVsbG8="}})");
  ASSERT_TRUE(seed.ok());
  auto reader = OpenSeedBatches(*seed, Pool(), 1 << 20);
  ASSERT_TRUE(reader.status().IsInvalid()) << reader.status().ToString();
  EXPECT_NE(reader.status().message().find("not Arrow IPC"), std::string::npos);
}

}  // namespace seed_body_test
}  // namespace arrowport::http
