#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::cli {

class Progress;

/// \brief DuckDB's progress of a query on the server, shown while its first rows have not
/// come (a sort of millions of rows runs seconds before its first row): a thread asks the
/// server every 500 ms how far the query has come (the `query_progress` action, by a
/// random key the query's DoGet sends in the header x-arrowport-progress-key) and sets it
/// on `progress`'s line. It stops at the first batch, at Stop(), or at the first failed
/// ask (a server without the action: the line says the elapsed time only).
class QueryProgressPoller {
 public:
  /// Runs the action `query_progress` with the body given; returns its first result.
  using Ask = std::function<arrow::Result<std::string>(const std::string& body)>;
  /// The header the query's DoGet sends the key in (as the server reads it).
  static constexpr const char* kHeader = "x-arrowport-progress-key";
  /// The longest one ask may take: the poll is joined at the first rows, which must not
  /// wait for a stalled ask.
  static constexpr double kAskTimeoutS = 2.0;

  QueryProgressPoller(Ask ask, Progress* progress);
  ~QueryProgressPoller() { Stop(); }
  QueryProgressPoller(const QueryProgressPoller&) = delete;
  QueryProgressPoller& operator=(const QueryProgressPoller&) = delete;

  /// The key the query's DoGet must send (kHeader).
  const std::string& key() const { return key_; }
  /// `reader` passed through; its first batch (or its end) stops the asking and runs
  /// `first_rows` (may be empty) before the batch is handed on.
  std::shared_ptr<arrow::RecordBatchReader> UntilFirstRows(
      std::shared_ptr<arrow::RecordBatchReader> reader,
      std::function<void()> first_rows = {});
  /// Stops asking (joins the thread); idempotent.
  void Stop();

 private:
  class FirstRowsReader;
  void Run();

  const Ask ask_;
  Progress* const progress_;
  const std::string key_;
  std::mutex mutex_;  // guards stopped_
  std::condition_variable wake_;
  bool stopped_ = false;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace arrowport::cli
