#include "arrowport/flight/progress_stream.h"

#include <nlohmann/json.hpp>

namespace arrowport::flight {

namespace fl = arrow::flight;

namespace {

std::unique_ptr<fl::Result> ResultOf(std::string body) {
  auto result = std::make_unique<fl::Result>();
  result->body = arrow::Buffer::FromString(std::move(body));
  return result;
}

}  // namespace

ProgressResultStream::ProgressResultStream(CallScope scope, Work work)
    : scope_(std::move(scope)) {
  if (!scope_.context.progress) scope_.context.progress = std::make_shared<CallProgress>();
  worker_ = std::thread([this, work = std::move(work)] {
    arrow::Result<std::string> outcome = arrow::Status::UnknownError("not run");
    try {
      outcome = work(scope_.context);
    } catch (const std::exception& e) {
      outcome = arrow::Status::UnknownError("internal error: ", e.what());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    outcome_ = std::move(outcome);
    ended_.notify_all();
  });
}

ProgressResultStream::~ProgressResultStream() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!outcome_ && scope_.context.cancellation) {
      scope_.context.cancellation->Cancel(
          arrow::Status::Cancelled("the client stopped reading the action's results"));
    }
  }
  if (worker_.joinable()) worker_.join();
}

arrow::Result<std::unique_ptr<fl::Result>> ProgressResultStream::Next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (delivered_) return nullptr;
  ended_.wait_for(lock, kProgressPeriod, [this] { return outcome_.has_value(); });
  if (outcome_) {
    delivered_ = true;
    if (!outcome_->ok()) return scope_.Failed(outcome_->status());
    return ResultOf(std::move(**outcome_));
  }
  const auto& progress = *scope_.context.progress;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return ResultOf(nlohmann::json{{"progress",
                                  {{"rows", progress.rows.load(std::memory_order_relaxed)},
                                   {"bytes", progress.bytes.load(std::memory_order_relaxed)},
                                   {"seconds", seconds}}}}
                      .dump());
}

}  // namespace arrowport::flight
