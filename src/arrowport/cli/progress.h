#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "arrow/io/type_fwd.h"
#include "arrow/status.h"
#include "arrow/type_fwd.h"

namespace arrowport::cli {

/// \brief A progress line on stderr while a long command works ("what: 1,234,567 rows,
/// 52.3 MiB, 2.10 M rows/s, 0:03", or only the elapsed time), redrawn in place four times a
/// second and erased when done. Only on a terminal: when stderr is a file or a pipe
/// nothing is written. Add() may be called from any thread.
class Progress {
 public:
  /// `counts`: false shows only the elapsed time (work whose rows are not seen here).
  /// `show_after`: the line is first drawn then (work done sooner shows none).
  explicit Progress(std::string what, bool counts = true,
                    std::chrono::milliseconds show_after = std::chrono::milliseconds(0));
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
  /// How far the server says the work's query has come (0..100; < 0: unknown), shown
  /// while no row has come (a sort's seconds before its first row).
  void SetQueryPercent(double percent) {
    percent_.store(percent, std::memory_order_relaxed);
  }
  /// True when the line is drawn (stderr is a terminal).
  bool shown() const { return shown_; }
  /// Erases the line; idempotent.
  void Stop();

  /// `reader` passed through, each batch added to this progress.
  std::shared_ptr<arrow::RecordBatchReader> Counting(
      std::shared_ptr<arrow::RecordBatchReader> reader);

  /// `sink` (standard output on the same terminal) passed through so that what is written
  /// to it lands above the line: the line is erased, the text written and flushed, the line
  /// drawn again. The stream must not outlive this progress.
  std::shared_ptr<arrow::io::OutputStream> Above(std::shared_ptr<arrow::io::OutputStream> sink);

  /// The line as drawn after `seconds` (exposed for tests); `percent` >= 0 is the
  /// query's progress, said while `rows` is 0.
  static std::string Line(const std::string& what, bool counts, int64_t rows, int64_t bytes,
                          double seconds, double percent = -1);

 private:
  class AboveStream;
  /// Runs `write` with the line erased, then draws it again; under `mutex_`.
  arrow::Status WriteAbove(const std::function<arrow::Status()>& write);
  void Draw(double seconds);
  double Elapsed() const;

  const std::string what_;
  const bool counts_;
  const bool shown_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::atomic<int64_t> rows_{0}, bytes_{0};
  std::atomic<double> percent_{-1};
  std::mutex mutex_;  // guards done_ and the terminal's line
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;  // not started when stderr is not a terminal
};

}  // namespace arrowport::cli
