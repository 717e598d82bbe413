#include "arrowport/cli/file_io.h"

#include <parquet/arrow/reader.h>

#include <unistd.h>

#include <cstring>

#include "arrow/csv/api.h"
#include "arrow/io/file.h"
#include "arrow/io/stdio.h"
#include "arrow/ipc/reader.h"
#include "arrow/record_batch.h"
#include "arrowport/cli/terminal_text.h"

namespace arrowport::cli {

namespace {

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Keeps the object that owns a reader's data alive as long as the reader.
class OwningReader : public arrow::RecordBatchReader {
 public:
  OwningReader(std::shared_ptr<void> owner, std::shared_ptr<arrow::RecordBatchReader> inner)
      : owner_(std::move(owner)), inner_(std::move(inner)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    return inner_->ReadNext(out);
  }

 private:
  std::shared_ptr<void> owner_;
  std::shared_ptr<arrow::RecordBatchReader> inner_;
};

// Iterates the record batches of an Arrow IPC file.
class IpcFileBatches : public arrow::RecordBatchReader {
 public:
  explicit IpcFileBatches(std::shared_ptr<arrow::ipc::RecordBatchFileReader> file)
      : file_(std::move(file)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return file_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    if (next_ >= file_->num_record_batches()) {
      *out = nullptr;
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(*out, file_->ReadRecordBatch(next_++));
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::ipc::RecordBatchFileReader> file_;
  int next_ = 0;
};

// Standard output on a terminal: every line made Printable (terminal_text.h) before it is
// shown, so that a value, a name or a server's answer cannot drive the terminal (ESC,
// CSI, BEL). Text is passed on line by line: a character cut between two writes is
// judged whole.
class TerminalOutput : public arrow::io::OutputStream {
 public:
  explicit TerminalOutput(std::shared_ptr<arrow::io::OutputStream> out) : out_(std::move(out)) {}
  arrow::Status Close() override {
    ARROW_RETURN_NOT_OK(Flush());
    return out_->Close();
  }
  bool closed() const override { return out_->closed(); }
  arrow::Result<int64_t> Tell() const override { return written_; }
  arrow::Status Write(const void* data, int64_t nbytes) override {
    pending_.append(static_cast<const char*>(data), static_cast<size_t>(nbytes));
    written_ += nbytes;
    const size_t end = pending_.rfind('\n');
    // A line without end is passed on once it is long (memory stays bounded).
    if (end == std::string::npos && pending_.size() < kLongLine) return arrow::Status::OK();
    const size_t whole = end == std::string::npos ? pending_.size() : end + 1;
    ARROW_RETURN_NOT_OK(out_->Write(PrintableLines(pending_.substr(0, whole))));
    pending_.erase(0, whole);
    return arrow::Status::OK();
  }
  arrow::Status Flush() override {
    if (!pending_.empty()) ARROW_RETURN_NOT_OK(out_->Write(PrintableLines(pending_)));
    pending_.clear();
    return out_->Flush();
  }

 private:
  static constexpr size_t kLongLine = size_t{1} << 20;
  std::shared_ptr<arrow::io::OutputStream> out_;
  std::string pending_;  // the last line's start, not passed on yet
  int64_t written_ = 0;
};

}  // namespace

std::string FormatForPath(const std::string& path) {
  if (EndsWith(path, ".parquet") || EndsWith(path, ".pq")) return "parquet";
  if (EndsWith(path, ".csv") || EndsWith(path, ".tsv")) return "csv";
  if (EndsWith(path, ".json") || EndsWith(path, ".jsonl")) return "json";
  if (EndsWith(path, ".feather") || EndsWith(path, ".arrowfile")) return "arrow-file";
  return "arrow";
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> OpenDataFile(const std::string& path,
                                                                      int64_t batch_rows) {
  auto opened = arrow::io::ReadableFile::Open(path);
  if (!opened.ok()) return arrow::Status::IOError("cannot open '", path, "': ", opened.status().message());
  std::shared_ptr<arrow::io::ReadableFile> file = *opened;
  const std::string format = FormatForPath(path);
  if (format == "parquet") {
    ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(file, arrow::default_memory_pool()));
    reader->set_batch_size(batch_rows);
    std::shared_ptr<parquet::arrow::FileReader> owner(std::move(reader));
    ARROW_ASSIGN_OR_RAISE(auto batches, owner->GetRecordBatchReader());
    return std::make_shared<OwningReader>(owner, std::move(batches));
  }
  if (format == "csv") {
    auto read = arrow::csv::ReadOptions::Defaults();
    read.block_size = 8 << 20;
    auto parse = arrow::csv::ParseOptions::Defaults();
    if (EndsWith(path, ".tsv")) parse.delimiter = '\t';
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::csv::StreamingReader::Make(
                                           arrow::io::default_io_context(), file, read, parse,
                                           arrow::csv::ConvertOptions::Defaults()));
    return reader;
  }
  // Arrow IPC: the file format starts with the magic "ARROW1"; otherwise a stream.
  ARROW_ASSIGN_OR_RAISE(auto head, file->ReadAt(0, 6));
  if (head->size() == 6 && std::memcmp(head->data(), "ARROW1", 6) == 0) {
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchFileReader::Open(file));
    return std::make_shared<IpcFileBatches>(std::move(reader));
  }
  ARROW_RETURN_NOT_OK(file->Seek(0));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchStreamReader::Open(file));
  return reader;
}

arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenOutput(const std::string& path) {
  if (path.empty() || path == "-") {
    auto out = std::make_shared<arrow::io::StdoutStream>();
    if (::isatty(STDOUT_FILENO)) return std::make_shared<TerminalOutput>(std::move(out));
    return out;
  }
  auto out = arrow::io::FileOutputStream::Open(path);
  if (!out.ok()) return arrow::Status::IOError("cannot write '", path, "': ", out.status().message());
  // A path that is a terminal (/dev/tty, /dev/stdout on one) is cleaned as "-" is.
  if (::isatty((*out)->file_descriptor())) return std::make_shared<TerminalOutput>(*out);
  return *out;
}

}  // namespace arrowport::cli
