#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "arrow/type_fwd.h"

namespace arrowport::cli {

/// \brief A progress line on stderr while a long command works ("what: 1,234,567 rows,
/// 52.3 MiB, 2.10 M rows/s, 0:03", or only the elapsed time), redrawn in place four times a
/// second and erased when done. Only on a terminal: when stderr is a file or a pipe
/// nothing is written. Add() may be called from any thread.
class Progress {
 public:
  /// `counts`: false shows only the elapsed time (work whose rows are not seen here).
  explicit Progress(std::string what, bool counts = true);
  ~Progress() { Stop(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Add(int64_t rows, int64_t bytes) {
    rows_.fetch_add(rows, std::memory_order_relaxed);
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }
  /// Counts learned from elsewhere (a server's report of its own progress).
  void Set(int64_t rows, int64_t bytes) {
    rows_.store(rows, std::memory_order_relaxed);
    bytes_.store(bytes, std::memory_order_relaxed);
  }
  /// True when the line is drawn (stderr is a terminal).
  bool shown() const { return shown_; }
  /// Erases the line; idempotent.
  void Stop();

  /// `reader` passed through, each batch added to this progress.
  std::shared_ptr<arrow::RecordBatchReader> Counting(
      std::shared_ptr<arrow::RecordBatchReader> reader);

  /// The line as drawn after `seconds` (exposed for tests).
  static std::string Line(const std::string& what, bool counts, int64_t rows, int64_t bytes,
                          double seconds);

 private:
  void Draw(double seconds);

  const std::string what_;
  const bool counts_;
  const bool shown_;
  std::atomic<int64_t> rows_{0}, bytes_{0};
  std::mutex mutex_;  // guards done_
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;  // not started when stderr is not a terminal
};

}  // namespace arrowport::cli
