#include "arrowport/cli/text_table.h"

#include <unistd.h>

#include <algorithm>

#include "arrow/io/interfaces.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/type.h"
#include "arrowport/cli/terminal_text.h"

namespace arrowport::cli {

namespace {

constexpr size_t kMinColumnWidth = 4;               // a cut column still shows "abc…"
// Without limits the widths come from this many first rows; later rows are printed as
// they come (memory stays bounded whatever the result's size).
constexpr size_t kWidthRows = 1000;

// `text` padded to `width` columns on the side away from its alignment (never cut).
std::string Pad(const std::string& text, size_t width, bool right) {
  const size_t have = DisplayWidth(text);
  const std::string pad(width > have ? width - have : 0, ' ');
  return right ? pad + text : text + pad;
}

bool IsNumeric(const arrow::DataType& type) {
  return arrow::is_integer(type.id()) || arrow::is_floating(type.id()) ||
         arrow::is_decimal(type.id());
}

// `a | b` with each cell in its column's width, no trailing blanks: cut with "…" to fit,
// or (`cut` false) whole, a longer value pushing the rest of its line right.
std::string Line(const std::vector<std::string>& cells, const std::vector<size_t>& widths,
                 const std::vector<bool>& right, size_t columns, bool cut = true) {
  std::string text;
  for (size_t c = 0; c < columns; ++c) {
    if (c) text += " | ";
    text += Pad(cut ? CutToWidth(cells[c], widths[c]) : cells[c], widths[c], right[c]);
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text + '\n';
}

std::string Rule(const std::vector<size_t>& widths, size_t columns) {
  std::string text;
  for (size_t c = 0; c < columns; ++c) text += (c ? "-+-" : "") + std::string(widths[c], '-');
  return text + '\n';
}

std::string CountLine(int64_t total, int64_t shown) {
  std::string text = "(" + std::to_string(total) + (total == 1 ? " row" : " rows");
  if (shown < total) text += ", " + std::to_string(shown) + " shown";
  return text + ")\n";
}

}  // namespace

TextTableLimits StdoutLimits() {
  TextTableLimits limits;
  limits.width = TerminalWidth(STDOUT_FILENO);
  if (limits.width > 0) limits.rows = 40;
  return limits;
}

TextTable::TextTable(std::vector<std::string> header, std::vector<bool> right_aligned)
    : right_(std::move(right_aligned)) {
  for (auto& name : header) header_.push_back(Printable(name));
  right_.resize(header_.size(), false);
}

void TextTable::Add(std::vector<std::string> row) {
  row.resize(header_.size());
  for (auto& cell : row) cell = Printable(cell);
  ++total_;
  const size_t half = keep_ > 0 ? static_cast<size_t>((keep_ + 1) / 2) : 0;
  if (keep_ <= 0 || head_.size() < half) {
    head_.push_back(std::move(row));
    return;
  }
  const size_t tail_size = static_cast<size_t>(keep_) - half;
  if (tail_size == 0) return;
  if (tail_.size() < tail_size) {
    tail_.push_back(std::move(row));
  } else {
    tail_[tail_next_] = std::move(row);
  }
  tail_next_ = (tail_next_ + 1) % tail_size;
}

std::vector<size_t> TextTable::Widths() const {
  std::vector<size_t> widths(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) {
    widths[c] = DisplayWidth(header_[c]);
    for (const auto* rows : {&head_, &tail_}) {
      for (const auto& row : *rows) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  return widths;
}

std::string TextTable::Render(const TextTableLimits& limits, bool count_line) const {
  // The rows shown, in order: the first ones, a "…" row for those left out, the last ones.
  std::vector<const std::vector<std::string>*> shown;
  for (const auto& row : head_) shown.push_back(&row);
  const int64_t kept = static_cast<int64_t>(head_.size() + tail_.size());
  const bool skipped = total_ > kept;
  const std::vector<std::string> gap(header_.size(), kEllipsis);
  if (skipped) shown.push_back(&gap);
  for (size_t i = 0; i < tail_.size(); ++i) {
    // Once rows were skipped the ring is full: its oldest row is the next to overwrite.
    const size_t at = skipped ? (tail_next_ + i) % tail_.size() : i;
    shown.push_back(&tail_[at]);
  }

  size_t columns = header_.size();
  std::vector<size_t> widths = Widths();
  auto total_width = [&] {
    size_t sum = 0;
    for (size_t c = 0; c < columns; ++c) sum += widths[c] + (c ? 3 : 0);
    return sum;
  };
  if (limits.width > 0) {
    // Narrow the widest column, one character at a time, down to a few characters each.
    while (total_width() > limits.width) {
      auto widest = std::max_element(widths.begin(), widths.begin() + columns);
      if (*widest <= kMinColumnWidth) break;
      --*widest;
    }
    // Still too wide: the last columns are left out (at least one stays).
    while (columns > 1 && total_width() > limits.width) --columns;
  }

  std::string out = Line(header_, widths, std::vector<bool>(header_.size()), columns);
  out += Rule(widths, columns);
  for (const auto* row : shown) {
    out += Line(*row, widths, row == &gap ? std::vector<bool>(header_.size()) : right_, columns);
  }
  if (columns < header_.size()) {
    std::string note = std::to_string(header_.size() - columns) + " more column" +
                       (header_.size() - columns == 1 ? "" : "s") + ":";
    for (size_t c = columns; c < header_.size(); ++c) note += (c > columns ? ", " : " ") + header_[c];
    out += "(" + CutToWidth(note, limits.width > 2 ? limits.width - 2 : note.size()) + ")\n";
  }
  if (count_line) out += CountLine(total_, kept);
  return out;
}

arrow::Result<int64_t> WriteTextTable(arrow::RecordBatchReader* reader,
                                      const std::shared_ptr<arrow::io::OutputStream>& sink,
                                      const TextTableLimits& limits) {
  const auto schema = reader->schema();
  std::vector<std::string> header;
  std::vector<bool> right;
  for (const auto& f : schema->fields()) {
    header.push_back(f->name());
    right.push_back(IsNumeric(*f->type()));
  }
  TextTable table(header, right);
  table.KeepRows(limits.rows);
  // Unlimited (a file, a pipe): once the first rows set the widths, the rest are written
  // as they come.
  const bool streamed = limits.width == 0 && limits.rows == 0;
  std::vector<size_t> widths;  // set when streaming began
  int64_t total = 0;
  auto write = [&](const std::string& text) {
    return sink->Write(text.data(), static_cast<int64_t>(text.size()));
  };
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (!batch) break;
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      std::vector<std::string> row;
      row.reserve(batch->num_columns());
      for (int c = 0; c < batch->num_columns(); ++c) {
        ARROW_ASSIGN_OR_RAISE(auto scalar, batch->column(c)->GetScalar(r));
        row.push_back(scalar->is_valid ? Printable(scalar->ToString()) : "NULL");
      }
      ++total;
      if (!widths.empty()) {
        ARROW_RETURN_NOT_OK(write(Line(row, widths, right, row.size(), /*cut=*/false)));
        continue;
      }
      table.Add(std::move(row));
      if (streamed && total == static_cast<int64_t>(kWidthRows)) {
        ARROW_RETURN_NOT_OK(write(table.Render({}, /*count_line=*/false)));
        widths = table.Widths();
      }
    }
  }
  if (widths.empty()) {
    ARROW_RETURN_NOT_OK(write(table.Render(limits)));
  } else {
    ARROW_RETURN_NOT_OK(write(CountLine(total, total)));
  }
  return total;
}

arrow::Result<int64_t> WriteFormatted(arrow::RecordBatchReader* reader, query::ResultFormat format,
                                      const std::shared_ptr<arrow::io::OutputStream>& sink,
                                      const TextTableLimits& limits) {
  if (format == query::ResultFormat::kTable) return WriteTextTable(reader, sink, limits);
  return query::WriteResult(reader, format, sink);
}

}  // namespace arrowport::cli
