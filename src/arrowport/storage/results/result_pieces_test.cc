#include "arrowport/storage/results/result_pieces.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "arrow/api.h"
#include "arrow/util/byte_size.h"

namespace arrowport::storage {
namespace result_pieces_test {

// Hands out the batches it was given, as a result source would.
class GivenSource : public ResultSource {
 public:
  explicit GivenSource(std::vector<std::shared_ptr<arrow::RecordBatch>> batches)
      : batches_(std::move(batches)), schema_(batches_.at(0)->schema()) {}
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    if (next_ == batches_.size()) return nullptr;
    return batches_[next_++];
  }
  bool pieces_are_chunks() const override { return false; }
  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

 private:
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
  std::shared_ptr<arrow::Schema> schema_;
  size_t next_ = 0;
};

std::shared_ptr<arrow::RecordBatch> Int64s(int64_t rows) {
  arrow::Int64Builder builder;
  for (int64_t i = 0; i < rows; ++i) EXPECT_TRUE(builder.Append(i).ok());
  auto array = builder.Finish().ValueOrDie();
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::int64())}), rows,
                                  {array});
}

TEST(ResultPiecesTest, ANewPieceIsSizedByItsBuffersAndASliceByWhatItReferences) {
  const auto whole = Int64s(1000);
  GivenSource source({whole, whole->Slice(10, 5)});
  ResultPieces pieces(&source, int64_t{8} << 20);
  const auto first = pieces.Next().ValueOrDie();
  EXPECT_EQ(first.bytes, arrow::util::TotalBufferSize(*whole));
  const auto sliced = pieces.Next().ValueOrDie();  // from the source, already a slice
  EXPECT_EQ(sliced.bytes, arrow::util::ReferencedBufferSize(*sliced.batch).ValueOrDie());
  EXPECT_EQ(sliced.bytes, 5 * 8);
}

TEST(ResultPiecesTest, ViewsIntoALargerBufferAreSizedByWhatTheyReference) {
  // One row whose view points into a buffer of 10,000 long strings: the piece holds the
  // whole buffer, but references one string of it.
  arrow::StringViewBuilder builder;
  for (int i = 0; i < 10000; ++i) {
    EXPECT_TRUE(builder.Append("a string longer than twelve bytes " + std::to_string(i)).ok());
  }
  auto many = builder.Finish().ValueOrDie();
  auto data = many->data()->Copy();
  data->length = 1;
  auto one = arrow::MakeArray(data);
  auto batch = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("s", arrow::utf8_view())}), 1, {one});
  GivenSource source({batch});
  ResultPieces pieces(&source, int64_t{8} << 20);
  const auto piece = pieces.Next().ValueOrDie();
  EXPECT_EQ(piece.bytes, arrow::util::ReferencedBufferSize(*batch).ValueOrDie());
  EXPECT_LT(piece.bytes, arrow::util::TotalBufferSize(*batch));
}

}  // namespace result_pieces_test
}  // namespace arrowport::storage
