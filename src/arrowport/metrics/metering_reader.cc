#include "arrowport/metrics/metering_reader.h"

#include "arrow/util/byte_size.h"
#include "arrowport/metrics/server_metrics.h"

namespace arrowport::metrics {

MeteringReader::MeteringReader(std::shared_ptr<arrow::RecordBatchReader> source,
                               OnBatch on_batch, OnEnd on_end,
                               std::chrono::steady_clock::time_point start)
    : source_(std::move(source)),
      on_batch_(std::move(on_batch)),
      on_end_(std::move(on_end)),
      start_(start),
      sized_(dynamic_cast<const SizedBatches*>(source_.get())) {}

MeteringReader::~MeteringReader() { End(/*ok=*/false); }

arrow::Status MeteringReader::ReadNext(std::shared_ptr<arrow::RecordBatch>* out) {
  auto st = source_->ReadNext(out);
  if (!st.ok()) {
    End(/*ok=*/false);
    return st;
  }
  if (*out == nullptr) {
    End(/*ok=*/true);
  } else if (on_batch_) {
    // A slice of a larger batch counts its part of the buffers, not all of them; a
    // source that measured the batch so already says what it found.
    const int64_t known = sized_ != nullptr ? sized_->last_batch_bytes() : -1;
    if (known >= 0) {
      on_batch_((*out)->num_rows(), known);
    } else {
      auto bytes = arrow::util::ReferencedBufferSize(**out);
      on_batch_((*out)->num_rows(),
                bytes.ok() ? *bytes : arrow::util::TotalBufferSize(**out));
    }
  }
  return st;
}

arrow::Status MeteringReader::Close() {
  // A result closed before its end (a client that stopped reading) did not finish.
  End(/*ok=*/false);
  return source_->Close();
}

void MeteringReader::End(bool ok) {
  if (!on_end_) return;
  auto on_end = std::move(on_end_);
  on_end_ = nullptr;
  on_end(ok, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
}

std::shared_ptr<arrow::RecordBatchReader> MeterResult(
    std::shared_ptr<arrow::RecordBatchReader> reader, ServerMetrics* metrics,
    const std::string& protocol, std::shared_ptr<CallProgress> progress,
    std::chrono::steady_clock::time_point start) {
  if (metrics == nullptr || protocol.empty()) return reader;
  const ServeMeter meter = metrics->BeginServe(protocol);
  return std::make_shared<MeteringReader>(
      std::move(reader),
      [meter, progress = std::move(progress)](int64_t rows, int64_t bytes) {
        meter.Served(rows, bytes);
        if (progress) progress->Add(rows, bytes);
      },
      [meter](bool ok, double seconds) { meter.Finish(ok, seconds); }, start);
}

}  // namespace arrowport::metrics
