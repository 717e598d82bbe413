#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace arrowport::http {

/// \brief Threads for HTTP connections, started on demand up to `max_threads` and
/// retired after `idle_timeout` without work. Unlike httplib::ThreadPool, a thread is
/// started whenever queued jobs outnumber idle threads, so with max_threads above the
/// connection cap every admitted connection gets a thread at once. Thread-safe.
class WorkerPool {
 public:
  WorkerPool(size_t max_threads, std::chrono::milliseconds idle_timeout);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues `job`; false once Shutdown() began.
  bool Submit(std::function<void()> job);
  /// Runs the jobs already queued, then joins every thread. Idempotent.
  void Shutdown();

 private:
  void Run();
  void JoinFinished();  // with mutex_ held

  const size_t max_threads_;
  const std::chrono::milliseconds idle_timeout_;
  std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::list<std::thread> threads_;
  std::list<std::thread> finished_;  // retired threads, joined later
  size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace arrowport::http
