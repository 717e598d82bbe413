#include "arrowport/query/text_pieces.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <deque>

#include "arrow/array/builder_binary.h"
#include "arrow/buffer.h"
#include "arrow/io/interfaces.h"
#include "arrow/record_batch.h"
#include "arrow/util/byte_size.h"
#include "arrow/util/future.h"
#include "arrow/util/thread_pool.h"

namespace arrowport::query {

namespace {

// Pieces in the making or waiting to be written, per request: a bound on the text held
// whatever the number of cores.
constexpr size_t kPiecesInFlight = 4;

int64_t RowsPerPiece(const arrow::RecordBatch& batch, PieceSize size) {
  const int64_t bytes = std::max<int64_t>(arrow::util::TotalBufferSize(batch), 1);
  const double rows = static_cast<double>(size.arrow_bytes) * batch.num_rows() / bytes;
  return std::clamp<int64_t>(static_cast<int64_t>(rows), 1, size.max_rows);
}

}  // namespace

arrow::Result<int64_t> WriteTextPieces(arrow::RecordBatchReader* reader, PieceSize size,
                                       const PieceText& text_of, std::string_view unfinished,
                                       const std::shared_ptr<arrow::io::OutputStream>& sink) {
  arrow::internal::ThreadPool* pool = arrow::internal::GetCpuThreadPool();
  std::deque<arrow::Future<std::shared_ptr<arrow::Buffer>>> texts;
  bool sink_failed = false;
  bool text_failed = false;  // rows after a piece that failed are never sent
  auto write_oldest = [&]() -> arrow::Status {
    auto text = texts.front().result();
    texts.pop_front();
    text_failed = !text.ok();
    ARROW_RETURN_NOT_OK(text.status());
    auto written = sink->Write(*text);
    sink_failed = !written.ok();
    return written;
  };
  int64_t rows = 0;
  auto st = [&]() -> arrow::Status {
    for (;;) {
      ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
      if (!batch) return arrow::Status::OK();
      const int64_t batch_start = rows;
      rows += batch->num_rows();
      const int64_t piece_rows = RowsPerPiece(*batch, size);
      for (int64_t offset = 0; offset < batch->num_rows() || !texts.empty();) {
        while (texts.size() < kPiecesInFlight && offset < batch->num_rows()) {
          ARROW_ASSIGN_OR_RAISE(auto text, pool->Submit(text_of, batch->Slice(offset, piece_rows),
                                                        batch_start + offset));
          texts.push_back(std::move(text));
          offset += piece_rows;
        }
        ARROW_RETURN_NOT_OK(write_oldest());
      }
    }
  }();
  if (st.ok()) return rows;
  while (!texts.empty()) {  // no task outlives the call
    if (sink_failed || text_failed) {
      texts.front().Wait();
      texts.pop_front();
    } else {
      (void)write_oldest();
    }
  }
  if (!sink_failed && !unfinished.empty() &&
      sink->Write(unfinished.data(), unfinished.size()).ok()) {
    (void)sink->Flush();
  }
  (void)sink->Abort();
  return st;
}

void AppendBlobText(std::string_view bytes, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char byte : bytes) {
    const auto code = static_cast<unsigned char>(byte);
    if (code >= 0x20 && code < 0x7f && byte != '\\' && byte != '"' && byte != '\'') {
      out->push_back(byte);
    } else {
      out->append({'\\', 'x', kHex[code >> 4], kHex[code & 0xf]});
    }
  }
}

arrow::Result<std::shared_ptr<arrow::Array>> TextColumn(
    const arrow::Array& column,
    const std::function<arrow::Status(int64_t i, std::string* text)>& append) {
  arrow::LargeStringBuilder text;
  ARROW_RETURN_NOT_OK(text.Reserve(column.length()));
  std::string value;
  for (int64_t i = 0; i < column.length(); ++i) {
    if (column.IsNull(i)) {
      ARROW_RETURN_NOT_OK(text.AppendNull());
      continue;
    }
    value.clear();
    ARROW_RETURN_NOT_OK(append(i, &value));
    ARROW_RETURN_NOT_OK(text.Append(value));
  }
  return text.Finish();
}

void AppendJsonString(std::string_view text, std::string* out) {
  *out += nlohmann::json(std::string(text))
              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace arrowport::query
