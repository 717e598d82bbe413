#include "arrowport/cli/query_progress.h"

#include <nlohmann/json.hpp>

#include <random>

#include "arrow/record_batch.h"
#include "arrowport/cli/progress.h"

namespace arrowport::cli {

namespace {

constexpr auto kAskEvery = std::chrono::milliseconds(500);

// 32 random hex digits: no other call of the user's guesses it.
std::string RandomKey() {
  std::random_device random;
  std::string key;
  for (int i = 0; i < 4; ++i) {
    char part[16];
    std::snprintf(part, sizeof(part), "%08x", static_cast<unsigned>(random()));
    key += part;
  }
  return key;
}

}  // namespace

class QueryProgressPoller::FirstRowsReader : public arrow::RecordBatchReader {
 public:
  FirstRowsReader(std::shared_ptr<arrow::RecordBatchReader> reader,
                  QueryProgressPoller* poller, std::function<void()> first_rows)
      : reader_(std::move(reader)), poller_(poller), first_rows_(std::move(first_rows)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return reader_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    auto st = reader_->ReadNext(batch);
    if (!seen_) {
      seen_ = true;
      poller_->Stop();
      poller_->progress_->SetQueryPercent(-1);  // rows are the news from here on
      if (first_rows_) first_rows_();
    }
    return st;
  }
  arrow::Status Close() override { return reader_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> reader_;
  QueryProgressPoller* poller_;
  std::function<void()> first_rows_;
  bool seen_ = false;
};

QueryProgressPoller::QueryProgressPoller(Ask ask, Progress* progress)
    : ask_(std::move(ask)), progress_(progress), key_(RandomKey()) {
  thread_ = std::thread([this] { Run(); });
}

void QueryProgressPoller::Run() {
  const std::string body = nlohmann::json{{"key", key_}}.dump();
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, kAskEvery, [this] { return stopped_; })) {
    lock.unlock();
    auto answer = ask_(body);
    lock.lock();
    if (!answer.ok()) return;  // an older server, or one refusing: elapsed time only
    const auto doc = nlohmann::json::parse(*answer, nullptr, false);
    const bool known =
        doc.is_object() && doc.contains("percent") && doc["percent"].is_number();
    if (known && !stopped_) progress_->SetQueryPercent(doc["percent"].get<double>());
  }
}

void QueryProgressPoller::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<arrow::RecordBatchReader> QueryProgressPoller::UntilFirstRows(
    std::shared_ptr<arrow::RecordBatchReader> reader, std::function<void()> first_rows) {
  return std::make_shared<FirstRowsReader>(std::move(reader), this,
                                           std::move(first_rows));
}

}  // namespace arrowport::cli
