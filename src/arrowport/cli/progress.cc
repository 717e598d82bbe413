#include "arrowport/cli/progress.h"

#include <unistd.h>

#include <cstdio>

#include "arrow/io/interfaces.h"
#include "arrowport/cli/human_format.h"
#include "arrowport/cli/terminal_text.h"
#include "arrowport/metrics/metering_reader.h"

namespace arrowport::cli {

namespace {

constexpr auto kRedraw = std::chrono::milliseconds(250);

}  // namespace

Progress::Progress(std::string what, bool counts, std::chrono::milliseconds show_after)
    : what_(std::move(what)), counts_(counts), shown_(::isatty(STDERR_FILENO) != 0) {
  if (!shown_) return;
  thread_ = std::thread([this, show_after] {
    std::unique_lock<std::mutex> lock(mutex_);
    // Ended before it was to be shown: nothing drawn.
    if (wake_.wait_for(lock, show_after, [this] { return done_; })) return;
    while (!done_) {
      Draw(Elapsed());
      wake_.wait_for(lock, kRedraw);
    }
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  });
}

void Progress::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<arrow::RecordBatchReader> Progress::Counting(
    std::shared_ptr<arrow::RecordBatchReader> reader) {
  return std::make_shared<metrics::MeteringReader>(
      std::move(reader), [this](int64_t rows, int64_t bytes) { Add(rows, bytes); });
}

double Progress::Elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

class Progress::AboveStream : public arrow::io::OutputStream {
 public:
  AboveStream(Progress* progress, std::shared_ptr<arrow::io::OutputStream> sink)
      : progress_(progress), sink_(std::move(sink)) {}
  arrow::Status Write(const void* data, int64_t nbytes) override {
    return progress_->WriteAbove([&] {
      ARROW_RETURN_NOT_OK(sink_->Write(data, nbytes));
      ARROW_RETURN_NOT_OK(sink_->Flush());
      // Arrow's StdoutStream writes through stdio's stdout.
      std::fflush(stdout);
      return arrow::Status::OK();
    });
  }
  arrow::Status Flush() override { return sink_->Flush(); }
  arrow::Status Close() override { return sink_->Close(); }
  bool closed() const override { return sink_->closed(); }
  arrow::Result<int64_t> Tell() const override { return sink_->Tell(); }

 private:
  Progress* progress_;
  std::shared_ptr<arrow::io::OutputStream> sink_;
};

std::shared_ptr<arrow::io::OutputStream> Progress::Above(
    std::shared_ptr<arrow::io::OutputStream> sink) {
  if (!shown_) return sink;
  return std::make_shared<AboveStream>(this, std::move(sink));
}

arrow::Status Progress::WriteAbove(const std::function<arrow::Status()>& write) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_) return write();
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  auto written = write();
  Draw(Elapsed());
  return written;
}

std::string Progress::Line(const std::string& what, bool counts, int64_t rows, int64_t bytes,
                           double seconds, double percent) {
  std::string line = what + ": ";
  if (rows == 0 && percent >= 0) {
    // Before the first row, the server's query is the news: how far DuckDB says it is.
    char done[32];
    std::snprintf(done, sizeof(done), "%.0f%% of the query done, ", percent);
    return line + done + Clock(seconds);
  }
  if (counts) {
    line += Grouped(rows) + " rows, " + HumanBytes(static_cast<double>(bytes));
    if (seconds > 0) {
      line += ", " + HumanCount(static_cast<double>(rows) / seconds) + " rows/s, " +
              HumanBytes(static_cast<double>(bytes) / seconds) + "/s";
    }
    line += ", ";
  }
  return line + Clock(seconds);
}

void Progress::Draw(double seconds) {
  std::string line = Line(what_, counts_, rows_.load(std::memory_order_relaxed),
                          bytes_.load(std::memory_order_relaxed), seconds,
                          percent_.load(std::memory_order_relaxed));
  // A line longer than the terminal would wrap, and each redraw would leave a line behind.
  const size_t width = TerminalWidth(STDERR_FILENO);
  if (width > 1) line = CutToWidth(Printable(line), width - 1);
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
}

}  // namespace arrowport::cli
