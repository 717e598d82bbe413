#include "arrowport/common/prefetching_reader.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "arrow/util/byte_size.h"

namespace arrowport {

namespace {

class PrefetchingReader : public arrow::RecordBatchReader {
 public:
  PrefetchingReader(std::shared_ptr<arrow::RecordBatchReader> inner, size_t depth,
                    std::function<void()> interrupt, GlueLimits glue)
      : inner_(std::move(inner)),
        depth_(depth ? depth : 1),
        interrupt_(std::move(interrupt)),
        glue_(glue) {}

  ~PrefetchingReader() override { Stop(); }

  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    // The first reads are inline: a one-batch request (batch, then end of stream) never
    // pays for a thread and its hand-offs.
    if (inline_reads_ < kInlineReads) {
      ++inline_reads_;
      return inner_->ReadNext(out);
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (!started_ && !finished_) {
      started_ = true;
      producer_ = std::thread([this] {
        Produce();
        std::lock_guard<std::mutex> done(mutex_);
        exited_ = true;
        changed_.notify_all();
      });
    }
    changed_.wait(lock, [this] { return !queue_.empty() || finished_; });
    if (!queue_.empty()) {
      *out = std::move(queue_.front());
      queue_.pop_front();
      if (glue_.rows > 0 && !queue_.empty()) return Glue(out, std::move(lock));
      changed_.notify_all();
      return arrow::Status::OK();
    }
    *out = nullptr;
    return error_;
  }

  arrow::Status Close() override {
    Stop();
    return inner_->Close();
  }

 private:
  // Appends the batches queued behind `*out` (what has been made, no waiting) up to the
  // glue limits, and makes them one batch.
  arrow::Status Glue(std::shared_ptr<arrow::RecordBatch>* out,
                     std::unique_lock<std::mutex> lock) {
    std::vector<std::shared_ptr<arrow::RecordBatch>> pieces{std::move(*out)};
    int64_t rows = pieces[0]->num_rows();
    int64_t bytes = arrow::util::TotalBufferSize(*pieces[0]);
    // Never past the byte limit: a batch over it may exceed a client's message limit.
    while (!queue_.empty() && rows < glue_.rows) {
      const int64_t next_bytes = arrow::util::TotalBufferSize(*queue_.front());
      if (bytes + next_bytes > glue_.bytes) break;
      rows += queue_.front()->num_rows();
      bytes += next_bytes;
      pieces.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    changed_.notify_all();
    lock.unlock();
    if (pieces.size() == 1) {
      *out = std::move(pieces[0]);
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(*out, arrow::ConcatenateRecordBatches(pieces));
    return arrow::Status::OK();
  }

  void Produce() {
    for (;;) {
      std::shared_ptr<arrow::RecordBatch> batch;
      auto st = inner_->ReadNext(&batch);
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [this] { return stop_ || queue_.size() < depth_; });
      if (stop_) return;
      if (!st.ok() || !batch) {
        error_ = st;
        finished_ = true;
        changed_.notify_all();
        return;
      }
      queue_.push_back(std::move(batch));
      changed_.notify_all();
    }
  }

  void Stop() {
    bool was_running;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      was_running = started_ && !finished_;
      stop_ = true;
      finished_ = true;
      queue_.clear();
    }
    changed_.notify_all();
    if (producer_.joinable()) {
      if (was_running && interrupt_) {
        // Repeated until the producer is out: an interrupt may arrive just before the
        // inner read starts (and be forgotten), or only ask it to stop at its next step.
        std::unique_lock<std::mutex> lock(mutex_);
        while (!exited_) {
          lock.unlock();
          interrupt_();
          lock.lock();
          changed_.wait_for(lock, kRepeatInterruptEvery, [this] { return exited_; });
        }
      }
      producer_.join();
    }
  }

  std::shared_ptr<arrow::RecordBatchReader> inner_;
  const size_t depth_;
  std::function<void()> interrupt_;
  const GlueLimits glue_;
  static constexpr int kInlineReads = 2;
  static constexpr std::chrono::milliseconds kRepeatInterruptEvery{200};
  int inline_reads_ = 0;  // consumer thread only

  std::mutex mutex_;  // guards everything below
  std::condition_variable changed_;
  std::deque<std::shared_ptr<arrow::RecordBatch>> queue_;
  arrow::Status error_;
  bool started_ = false;
  bool finished_ = false;
  bool stop_ = false;
  bool exited_ = false;  // the producer thread has left Produce()
  std::thread producer_;
};

}  // namespace

std::shared_ptr<arrow::RecordBatchReader> MakePrefetchingReader(
    std::shared_ptr<arrow::RecordBatchReader> inner, size_t depth,
    std::function<void()> interrupt, GlueLimits glue) {
  return std::make_shared<PrefetchingReader>(std::move(inner), depth, std::move(interrupt),
                                             glue);
}

}  // namespace arrowport
