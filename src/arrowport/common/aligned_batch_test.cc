#include "arrowport/common/aligned_batch.h"

#include <gtest/gtest.h>

#include <cstring>

#include "arrow/api.h"
#include "arrow/util/align_util.h"

namespace arrowport {
namespace aligned_batch_test {

// The e2e suite against the ASan/UBSan build found misaligned loads on batches received
// over Flight (gRPC slices) and HTTP: decoded buffers are views at any address.
TEST(AlignedBatchTest, MisalignedBuffersAreCopiedAlignedOnesShared) {
  auto storage = arrow::AllocateBuffer(8 * 4 + 1).ValueOrDie();
  const int64_t values[] = {1, 2, 3, 4};
  std::memcpy(storage->mutable_data() + 1, values, sizeof(values));
  std::shared_ptr<arrow::Buffer> shared = std::move(storage);
  auto misaligned = arrow::SliceBuffer(shared, 1, 32);
  auto ints = arrow::MakeArray(arrow::ArrayData::Make(arrow::int64(), 4, {nullptr, misaligned}));
  arrow::StringBuilder strings;
  ASSERT_TRUE(strings.AppendValues({"a", "bb", "ccc", "dddd"}).ok());
  auto text = strings.Finish().ValueOrDie();
  auto batch = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("i", arrow::int64()), arrow::field("s", arrow::utf8())}), 4,
      {ints, text});
  std::vector<bool> needs;
  ASSERT_FALSE(arrow::util::CheckAlignment(*batch, arrow::util::kValueAlignment, &needs));

  auto aligned = AlignBuffers(batch);
  ASSERT_TRUE(aligned.ok()) << aligned.status().ToString();
  EXPECT_TRUE(arrow::util::CheckAlignment(**aligned, arrow::util::kValueAlignment, &needs));
  EXPECT_TRUE((*aligned)->Equals(*batch));
  EXPECT_NE((*aligned)->column(0)->data()->buffers[1]->data(), misaligned->data());
  EXPECT_EQ((*aligned)->column(1)->data()->buffers[2]->data(), text->data()->buffers[2]->data());

  auto again = AlignBuffers(*aligned);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), aligned->get());  // already aligned: the same batch
}

}  // namespace aligned_batch_test
}  // namespace arrowport
