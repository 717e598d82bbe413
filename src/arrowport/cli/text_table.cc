#include "arrowport/cli/text_table.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "arrow/io/interfaces.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/type.h"

namespace arrowport::cli {

namespace {

constexpr const char* kEllipsis = "\xE2\x80\xA6";  // "…"
constexpr size_t kMinColumnWidth = 4;               // a cut column still shows "abc…"

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// One line per row: control characters (newlines, tabs) would break the columns.
std::string OneLine(std::string text) {
  for (auto& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

// `text` in exactly `width` characters: cut with "…" or padded on the side away from
// its alignment.
std::string Fit(const std::string& text, size_t width, bool right) {
  const size_t have = DisplayWidth(text);
  if (have <= width) {
    const std::string pad(width - have, ' ');
    return right ? pad + text : text + pad;
  }
  if (width == 0) return "";
  std::string cut;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsContinuation(static_cast<unsigned char>(text[i]))) {
      if (chars == width - 1) break;
      ++chars;
    }
    cut += text[i];
  }
  return cut + kEllipsis;
}

bool IsNumeric(const arrow::DataType& type) {
  return arrow::is_integer(type.id()) || arrow::is_floating(type.id()) ||
         arrow::is_decimal(type.id());
}

}  // namespace

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (const char c : text) {
    if (!IsContinuation(static_cast<unsigned char>(c))) ++width;
  }
  return width;
}

TextTableLimits StdoutLimits() {
  TextTableLimits limits;
  if (!::isatty(STDOUT_FILENO)) return limits;
  limits.rows = 40;
  winsize size{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    limits.width = size.ws_col;
  }
  if (const char* columns = std::getenv("COLUMNS")) {
    const long value = std::strtol(columns, nullptr, 10);
    if (value > 0) limits.width = static_cast<size_t>(value);
  }
  if (limits.width == 0) limits.width = 80;
  return limits;
}

TextTable::TextTable(std::vector<std::string> header, std::vector<bool> right_aligned)
    : header_(std::move(header)), right_(std::move(right_aligned)) {
  right_.resize(header_.size(), false);
}

void TextTable::Add(std::vector<std::string> row) {
  row.resize(header_.size());
  for (auto& cell : row) cell = OneLine(std::move(cell));
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

std::string TextTable::Render(const TextTableLimits& limits, bool count_line) const {
  // The rows shown, in order: the first ones, a "…" row for those left out, the last ones.
  std::vector<const std::vector<std::string>*> shown;
  for (const auto& row : head_) shown.push_back(&row);
  const bool skipped = total_ > static_cast<int64_t>(head_.size() + tail_.size());
  const std::vector<std::string> gap(header_.size(), kEllipsis);
  if (skipped) shown.push_back(&gap);
  for (size_t i = 0; i < tail_.size(); ++i) {
    // Once rows were skipped the ring is full: its oldest row is the next to overwrite.
    const size_t at = skipped ? (tail_next_ + i) % tail_.size() : i;
    shown.push_back(&tail_[at]);
  }

  size_t columns = header_.size();
  std::vector<size_t> widths(columns);
  for (size_t c = 0; c < columns; ++c) {
    widths[c] = DisplayWidth(header_[c]);
    for (const auto* row : shown) widths[c] = std::max(widths[c], DisplayWidth((*row)[c]));
  }
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

  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < columns; ++c) {
      if (c) text += " | ";
      text += Fit(cells[c], widths[c], right_[c] && &cells != &header_ && &cells != &gap);
    }
    // Padding after the last column only widens the line.
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out += '\n';
  };
  line(header_);
  for (size_t c = 0; c < columns; ++c) out += (c ? "-+-" : "") + std::string(widths[c], '-');
  out += '\n';
  for (const auto* row : shown) line(*row);
  if (columns < header_.size()) {
    std::string note = "(" + std::to_string(header_.size() - columns) +
                       " more column" + (header_.size() - columns == 1 ? "" : "s") + ":";
    for (size_t c = columns; c < header_.size(); ++c) note += (c > columns ? ", " : " ") + header_[c];
    out += Fit(note, limits.width > 1 ? limits.width - 1 : note.size(), false) + ")\n";
  }
  if (count_line) {
    out += "(" + std::to_string(total_) + (total_ == 1 ? " row" : " rows");
    if (skipped) out += ", " + std::to_string(head_.size() + tail_.size()) + " shown";
    out += ")\n";
  }
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
  TextTable table(std::move(header), std::move(right));
  table.KeepRows(limits.rows);
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (!batch) break;
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      std::vector<std::string> row;
      row.reserve(batch->num_columns());
      for (int c = 0; c < batch->num_columns(); ++c) {
        ARROW_ASSIGN_OR_RAISE(auto scalar, batch->column(c)->GetScalar(r));
        row.push_back(scalar->is_valid ? scalar->ToString() : "NULL");
      }
      table.Add(std::move(row));
    }
  }
  const std::string text = table.Render(limits);
  ARROW_RETURN_NOT_OK(sink->Write(text.data(), static_cast<int64_t>(text.size())));
  return table.rows();
}

}  // namespace arrowport::cli
