#include "arrowport/cli/sql_output.h"

#include <algorithm>

#include "arrow/io/interfaces.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrowport/cli/file_io.h"
#include "arrowport/cli/terminal_text.h"

namespace arrowport::cli {

namespace {

// `.mode line`: each row as `column = value` lines, names aligned, rows apart.
arrow::Result<int64_t> WriteLines(arrow::RecordBatchReader* reader,
                                  arrow::io::OutputStream* sink) {
  const auto schema = reader->schema();
  std::vector<std::string> names;
  size_t width = 0;
  for (const auto& field : schema->fields()) {
    names.push_back(Printable(field->name()));
    width = std::max(width, DisplayWidth(names.back()));
  }
  int64_t rows = 0;
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (batch == nullptr) break;
    std::string text;
    for (int64_t r = 0; r < batch->num_rows(); ++r, ++rows) {
      if (rows > 0) text += "\n";
      for (int c = 0; c < batch->num_columns(); ++c) {
        ARROW_ASSIGN_OR_RAISE(auto scalar, batch->column(c)->GetScalar(r));
        text += std::string(width - DisplayWidth(names[c]), ' ') + names[c] + " = " +
                (scalar->is_valid ? Printable(scalar->ToString()) : "NULL") + "\n";
      }
    }
    ARROW_RETURN_NOT_OK(sink->Write(text));
  }
  return rows;
}

// The shell's output as the result writers see it: they close or abort their sink when
// a result fails, but the shell's file or terminal outlives every result.
class KeptOpenStream : public arrow::io::OutputStream {
 public:
  explicit KeptOpenStream(std::shared_ptr<arrow::io::OutputStream> out) : out_(std::move(out)) {}
  arrow::Status Close() override { return out_->Flush(); }
  arrow::Status Abort() override { return out_->Flush(); }
  bool closed() const override { return false; }
  arrow::Result<int64_t> Tell() const override { return out_->Tell(); }
  arrow::Status Write(const void* data, int64_t nbytes) override {
    return out_->Write(data, nbytes);
  }
  arrow::Status Flush() override { return out_->Flush(); }

 private:
  std::shared_ptr<arrow::io::OutputStream> out_;
};

}  // namespace

arrow::Result<ShellMode> ParseShellMode(const std::string& name) {
  if (name == "table") return ShellMode::kTable;
  if (name == "csv") return ShellMode::kCsv;
  if (name == "json") return ShellMode::kJson;
  if (name == "line") return ShellMode::kLine;
  return arrow::Status::Invalid("unknown mode '", name, "': table, csv, json or line");
}

const char* ShellModeName(ShellMode mode) {
  switch (mode) {
    case ShellMode::kTable: return "table";
    case ShellMode::kCsv: return "csv";
    case ShellMode::kJson: return "json";
    case ShellMode::kLine: return "line";
  }
  return "table";
}

ShellOutput::ShellOutput() : sink_(*OpenOutput("-")) {}

ShellOutput::~ShellOutput() {
  if (!path_.empty()) (void)sink_->Close();
}

arrow::Status ShellOutput::Redirect(const std::string& path) {
  std::shared_ptr<arrow::io::OutputStream> next;
  ARROW_ASSIGN_OR_RAISE(next, OpenOutput(path.empty() ? "-" : path));
  if (!path_.empty()) ARROW_RETURN_NOT_OK(sink_->Close());
  sink_ = std::move(next);
  path_ = path;
  return arrow::Status::OK();
}

TextTableLimits ShellOutput::limits() const {
  return path_.empty() ? StdoutLimits() : TextTableLimits{};
}

arrow::Result<int64_t> ShellOutput::Write(arrow::RecordBatchReader* reader) {
  auto out = std::make_shared<KeptOpenStream>(sink_);
  arrow::Result<int64_t> rows;
  switch (mode_) {
    case ShellMode::kTable:
      rows = WriteFormatted(reader, query::ResultFormat::kTable, out, limits());
      break;
    case ShellMode::kCsv:
      rows = WriteFormatted(reader, query::ResultFormat::kCsv, out);
      break;
    case ShellMode::kJson:
      rows = WriteFormatted(reader, query::ResultFormat::kJson, out);
      break;
    case ShellMode::kLine:
      rows = WriteLines(reader, out.get());
      break;
  }
  // A result cut short leaves its last line open: the next output starts a line.
  if (!rows.ok()) (void)sink_->Write("\n");
  ARROW_RETURN_NOT_OK(sink_->Flush());
  return rows;
}

arrow::Status ShellOutput::WriteText(const std::string& text) {
  ARROW_RETURN_NOT_OK(sink_->Write(text));
  return sink_->Flush();
}

}  // namespace arrowport::cli
