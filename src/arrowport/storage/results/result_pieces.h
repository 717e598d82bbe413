#pragma once

// Internal to storage: a result source's pieces cut down to a batch's size, for
// ResultBatchReader (result_batch_reader.cc).

#include <cstdint>
#include <memory>
#include <optional>

#include "arrow/record_batch.h"
#include "arrow/result.h"
#include "arrowport/storage/results/result_sources.h"

namespace arrowport::storage {

/// \brief The pieces of a ResultSource, each within `max_bytes` unless it is one row: a
/// larger one (a chunk or unit of multi-MB values) is handed out as slices, views of it,
/// cut by the bytes they cover, so uneven values (a few 5 MB documents among short
/// rows) do not make one slice of all of them.
class ResultPieces {
 public:
  struct Piece {
    std::shared_ptr<arrow::RecordBatch> batch;  ///< null at the result's end
    int64_t bytes = 0;         ///< of the buffers it covers (a slice: its part of them)
    int64_t whole_bytes = 0;   ///< a slice: the bytes of the piece it is cut from; else 0
    bool first_slice = false;  ///< the first slice of its piece
    bool last_slice = false;   ///< the last one: the piece lives until it is released
  };

  ResultPieces(ResultSource* source, int64_t max_bytes);

  /// The next piece: the one put back, the next slice of a wide one, or the source's
  /// next.
  arrow::Result<Piece> Next();
  /// Hands `piece` out again on the next call (a batch it would have made too large).
  void PutBack(Piece piece) { put_back_ = std::move(piece); }

 private:
  arrow::Result<Piece> NextSlice();
  arrow::Result<int64_t> BytesOf(const arrow::RecordBatch& piece) const;

  ResultSource* source_;
  const int64_t max_bytes_;
  std::optional<Piece> put_back_;
  std::shared_ptr<arrow::RecordBatch> wide_;  // a piece over max_bytes_, in slices
  int64_t wide_bytes_ = 0;
  int64_t wide_offset_ = 0;
  int64_t slice_rows_ = 0;  // rows a slice starts from: the piece's rows over its share
  bool sized_by_range_ = false;  // the schema holds views (BytesOf)
};

}  // namespace arrowport::storage
