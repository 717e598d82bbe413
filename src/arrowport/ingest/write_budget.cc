#include "arrowport/ingest/write_budget.h"

#include <limits>

#include "arrow/util/byte_size.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::ingest {

namespace {

// factor * sent + floor, saturating (a factor of a million times a large upload).
int64_t Allowance(int64_t sent, int64_t factor, int64_t floor) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (factor > 0 && sent > (kMax - floor) / factor) return kMax;
  return sent * factor + floor;
}

}  // namespace

// The client's batches, counted as they pass; the first one arms the deadline.
class WriteBudget::SentReader : public arrow::RecordBatchReader {
 public:
  SentReader(std::shared_ptr<arrow::RecordBatchReader> source,
             std::shared_ptr<WriteBudget> budget, bool deadline)
      : source_(std::move(source)), budget_(std::move(budget)), deadline_(deadline) {}
  std::shared_ptr<arrow::Schema> schema() const override { return source_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    ARROW_RETURN_NOT_OK(source_->ReadNext(out));
    if (*out != nullptr) {
      budget_->Sent((*out)->num_rows(), arrow::util::TotalBufferSize(**out), deadline_);
    }
    return arrow::Status::OK();
  }
  arrow::Status Close() override { return source_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> source_;
  std::shared_ptr<WriteBudget> budget_;
  const bool deadline_;
};

// What the request makes of them, refused past the cap.
class WriteBudget::ProducedReader : public arrow::RecordBatchReader {
 public:
  ProducedReader(std::shared_ptr<arrow::RecordBatchReader> produced,
                 std::shared_ptr<WriteBudget> budget)
      : produced_(std::move(produced)), budget_(std::move(budget)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return produced_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    ARROW_RETURN_NOT_OK(produced_->ReadNext(out));
    if (*out == nullptr) return arrow::Status::OK();
    auto st = budget_->Produced((*out)->num_rows(), arrow::util::TotalBufferSize(**out));
    if (!st.ok()) *out = nullptr;
    return st;
  }
  arrow::Status Close() override { return produced_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> produced_;
  std::shared_ptr<WriteBudget> budget_;
};

std::shared_ptr<WriteBudget> WriteBudget::Make(const WriteLimits& limits,
                                               const CallContext& call) {
  return std::make_shared<WriteBudget>(limits, call.cancellation);
}

WriteBudget::WriteBudget(const WriteLimits& limits,
                         std::shared_ptr<CallCancellation> cancellation)
    : limits_(limits), cancellation_(std::move(cancellation)) {}

std::shared_ptr<arrow::RecordBatchReader> WriteBudget::CountSent(
    std::shared_ptr<arrow::RecordBatchReader> source, bool deadline) {
  return std::make_shared<SentReader>(std::move(source), shared_from_this(), deadline);
}

std::shared_ptr<arrow::RecordBatchReader> WriteBudget::CapProduced(
    std::shared_ptr<arrow::RecordBatchReader> produced) {
  return std::make_shared<ProducedReader>(std::move(produced), shared_from_this());
}

void WriteBudget::Finish() {
  CallWatchdog::Watch done;
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  done = std::move(deadline_);  // removed from the watchdog as `done` goes
}

void WriteBudget::Sent(int64_t rows, int64_t bytes, bool arm) {
  sent_rows_.fetch_add(rows, std::memory_order_relaxed);
  sent_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (!arm || limits_.watchdog == nullptr || limits_.query_timeout_s <= 0 ||
      cancellation_ == nullptr) {
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (armed_ || finished_) return;
  armed_ = true;
  CallWatchdog::Checks checks;
  checks.deadline =
      CallWatchdog::Clock::now() + std::chrono::seconds(limits_.query_timeout_s);
  checks.deadline_reason =
      TimedOut("the write ran past limits.query_timeout_s (", limits_.query_timeout_s,
               " s from its first batch): a transform, an exchange or a copy makes rows "
               "of its own and runs under the query deadline");
  deadline_ = limits_.watchdog->Add(cancellation_, std::move(checks));
}

arrow::Status WriteBudget::Produced(int64_t rows, int64_t bytes) {
  const int64_t total_rows = produced_rows_.fetch_add(rows) + rows;
  const int64_t total_bytes = produced_bytes_.fetch_add(bytes) + bytes;
  const int64_t sent_rows = sent_rows_.load(), sent_bytes = sent_bytes_.load();
  const int64_t max_rows = Allowance(sent_rows, limits_.max_write_factor, limits_.floor_rows);
  const int64_t max_bytes =
      Allowance(sent_bytes, limits_.max_write_factor, limits_.floor_bytes);
  if (total_rows <= max_rows && total_bytes <= max_bytes) return arrow::Status::OK();
  const bool by_rows = total_rows > max_rows;
  return WriteLimit(
      "the request made ", by_rows ? total_rows : total_bytes, by_rows ? " rows" : " bytes",
      " from ", by_rows ? sent_rows : sent_bytes, by_rows ? " rows" : " bytes",
      " its client sent, more than limits.max_write_factor (", limits_.max_write_factor,
      ") times that plus ", by_rows ? "limits.max_write_floor_rows (" : "limits.max_write_floor_bytes (",
      by_rows ? limits_.floor_rows : limits_.floor_bytes,
      "): a transform, an exchange or a copy may not multiply rows without bound; "
      "nothing more of it is written");
}

}  // namespace arrowport::ingest
