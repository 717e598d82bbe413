#include "arrowport/storage/results/result_pieces.h"

#include <algorithm>

#include "arrow/array/data.h"
#include "arrow/extension_type.h"
#include "arrow/util/byte_size.h"

namespace arrowport::storage {

namespace {

// Whether values of `type` may be views into buffers larger than what they reference.
bool HoldsViews(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::BINARY_VIEW:
    case arrow::Type::STRING_VIEW:
    case arrow::Type::LIST_VIEW:
    case arrow::Type::LARGE_LIST_VIEW:
      return true;
    case arrow::Type::DICTIONARY:
      return HoldsViews(*static_cast<const arrow::DictionaryType&>(type).value_type());
    case arrow::Type::EXTENSION:
      return HoldsViews(*static_cast<const arrow::ExtensionType&>(type).storage_type());
    default:
      break;
  }
  for (const auto& field : type.fields()) {
    if (HoldsViews(*field->type())) return true;
  }
  return false;
}

bool Unsliced(const arrow::RecordBatch& batch) {
  for (int i = 0; i < batch.num_columns(); ++i) {
    if (batch.column_data(i)->offset != 0) return false;
  }
  return true;
}

}  // namespace

ResultPieces::ResultPieces(ResultSource* source, int64_t max_bytes)
    : source_(source), max_bytes_(max_bytes) {
  const auto& schema = source_->schema();
  if (schema == nullptr) return;
  for (const auto& field : schema->fields()) {
    if (HoldsViews(*field->type())) sized_by_range_ = true;
  }
}

arrow::Result<int64_t> ResultPieces::BytesOf(const arrow::RecordBatch& piece) const {
  // A source's piece is new and its buffers hold what it references (Arrow's import sizes
  // each by the lengths and offsets): their total is its size, found without
  // ReferencedBufferSize's range analysis (2 % of a 1,000-row read's CPU). Views may
  // point into larger shared buffers: measured by range.
  if (!sized_by_range_ && Unsliced(piece)) return arrow::util::TotalBufferSize(piece);
  return arrow::util::ReferencedBufferSize(piece);
}

arrow::Result<ResultPieces::Piece> ResultPieces::Next() {
  if (put_back_) {
    Piece piece = std::move(*put_back_);
    put_back_.reset();
    return piece;
  }
  if (wide_ != nullptr) return NextSlice();
  ARROW_ASSIGN_OR_RAISE(auto batch, source_->Next());
  if (batch == nullptr) return Piece{};
  ARROW_ASSIGN_OR_RAISE(const int64_t bytes, BytesOf(*batch));
  if (bytes <= max_bytes_ || batch->num_rows() <= 1) {
    return Piece{std::move(batch), bytes};
  }
  // Rows spread evenly over as many slices as the bytes need (no short last slice).
  const int64_t rows = batch->num_rows();
  const int64_t slices = std::min(rows, (bytes + max_bytes_ - 1) / max_bytes_);
  slice_rows_ = (rows + slices - 1) / slices;
  wide_ = std::move(batch);
  wide_bytes_ = bytes;
  wide_offset_ = 0;
  return NextSlice();
}

arrow::Result<ResultPieces::Piece> ResultPieces::NextSlice() {
  int64_t rows = std::min(slice_rows_, wide_->num_rows() - wide_offset_);
  auto slice = wide_->Slice(wide_offset_, rows);
  ARROW_ASSIGN_OR_RAISE(int64_t bytes, arrow::util::ReferencedBufferSize(*slice));
  // Values of uneven sizes: halved until it fits (or is one row), each step O(columns).
  while (bytes > max_bytes_ && rows > 1) {
    rows = (rows + 1) / 2;
    slice = wide_->Slice(wide_offset_, rows);
    ARROW_ASSIGN_OR_RAISE(bytes, arrow::util::ReferencedBufferSize(*slice));
  }
  Piece piece{std::move(slice), bytes, wide_bytes_, wide_offset_ == 0, false};
  wide_offset_ += rows;
  if (wide_offset_ >= wide_->num_rows()) {
    piece.last_slice = true;
    wide_ = nullptr;
  }
  return piece;
}

}  // namespace arrowport::storage
