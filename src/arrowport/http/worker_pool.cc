#include "arrowport/http/worker_pool.h"

namespace arrowport::http {

WorkerPool::WorkerPool(size_t max_threads, std::chrono::milliseconds idle_timeout)
    : max_threads_(max_threads), idle_timeout_(idle_timeout) {}

WorkerPool::~WorkerPool() { Shutdown(); }

bool WorkerPool::Submit(std::function<void()> job) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return false;
  jobs_.push_back(std::move(job));
  JoinFinished();
  if (jobs_.size() > idle_ && threads_.size() < max_threads_) {
    threads_.emplace_back([this] { Run(); });
  }
  wake_.notify_one();
  return true;
}

void WorkerPool::Shutdown() {
  std::list<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      JoinFinished();
      if (threads_.empty()) break;
      threads.splice(threads.end(), threads_);
    }
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
    threads.clear();
  }
}

void WorkerPool::JoinFinished() {
  for (auto& t : finished_) {
    if (t.joinable()) t.join();
  }
  finished_.clear();
}

void WorkerPool::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    ++idle_;
    const bool woke = wake_.wait_for(lock, idle_timeout_,
                                     [this] { return !jobs_.empty() || stopping_; });
    --idle_;
    if (jobs_.empty()) {
      if (stopping_ || !woke) break;
      continue;
    }
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    try {
      job();
    } catch (...) {
      // A connection job never throws on purpose; a stray exception must not kill the server.
    }
    job = nullptr;
    lock.lock();
  }
  // Retire: move this thread's handle to finished_ so someone joins it. During
  // Shutdown the handle was already taken from threads_ and is joined there.
  const auto self = std::this_thread::get_id();
  for (auto it = threads_.begin(); it != threads_.end(); ++it) {
    if (it->get_id() == self) {
      finished_.splice(finished_.end(), threads_, it);
      break;
    }
  }
}

}  // namespace arrowport::http

