#include "arrowport/cli/text_table.h"

#include <unistd.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "arrow/io/interfaces.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/extension_type.h"
#include "arrow/type.h"
#include "arrow/type_traits.h"
#include "arrowport/cli/terminal_text.h"
#include "arrowport/query/bignum_text.h"
#include "arrowport/query/time_text.h"
#include "arrowport/query/variant_text.h"

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

TextTable::Fitted TextTable::Fit(const TextTableLimits& limits) const {
  Fitted fitted;
  fitted.natural = Widths();
  fitted.widths = fitted.natural;
  fitted.columns = header_.size();
  auto& widths = fitted.widths;
  size_t& columns = fitted.columns;
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
  return fitted;
}

std::string TextTable::RenderHead(const Fitted& fitted) const {
  std::string out =
      Line(header_, fitted.widths, std::vector<bool>(header_.size()), fitted.columns);
  out += Rule(fitted.widths, fitted.columns);
  for (const auto& row : head_) out += Line(row, fitted.widths, right_, fitted.columns);
  return out;
}

std::string TextTable::RenderRest(const Fitted& fitted, const TextTableLimits& limits,
                                  bool count_line, bool loose) const {
  const size_t columns = fitted.columns;
  std::string out;
  const int64_t kept = static_cast<int64_t>(head_.size() + tail_.size());
  const bool skipped = total_ > kept;
  if (skipped) {
    out += Line(std::vector<std::string>(header_.size(), kEllipsis), fitted.widths,
                std::vector<bool>(header_.size()), columns);
  }
  for (size_t i = 0; i < tail_.size(); ++i) {
    // Once rows were skipped the ring is full: its oldest row is the next to overwrite.
    const size_t at = skipped ? (tail_next_ + i) % tail_.size() : i;
    const auto& row = tail_[at];
    if (!loose) {
      out += Line(row, fitted.widths, right_, columns);
      continue;
    }
    std::vector<std::string> cells(row.begin(), row.begin() + columns);
    for (size_t c = 0; c < columns; ++c) {
      if (fitted.widths[c] < fitted.natural[c]) cells[c] = CutToWidth(cells[c], fitted.widths[c]);
    }
    std::string line = Line(cells, fitted.widths, right_, columns, /*cut=*/false);
    line.pop_back();  // the newline
    if (limits.width > 0) line = CutToWidth(line, limits.width);
    out += line + '\n';
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

std::string TextTable::Render(const TextTableLimits& limits, bool count_line) const {
  const Fitted fitted = Fit(limits);
  return RenderHead(fitted) + RenderRest(fitted, limits, count_line);
}

namespace {

// A BIGNUM's digits; one too large to write, said so.
std::string BignumCell(const arrow::Scalar& scalar) {
  const auto& storage = *static_cast<const arrow::ExtensionScalar&>(scalar).value;
  if (!arrow::is_base_binary_like(storage.type->id())) return scalar.ToString();
  auto digits =
      query::BignumText(static_cast<const arrow::BaseBinaryScalar&>(storage).view());
  return digits.ok() ? *digits : "(a BIGNUM too large to show: cast it to VARCHAR)";
}

// A VARIANT's JSON text; one that cannot be written, said so.
std::string VariantCell(const arrow::Array& column, int64_t r) {
  std::string json;
  auto written = query::AppendVariantJsonAt(column, r, &json);
  return written.ok() ? json : "(" + written.message() + ")";
}

// Row `r` of `batch` as the table shows it.
arrow::Result<std::vector<std::string>> FormatRow(const arrow::RecordBatch& batch, int64_t r) {
  std::vector<std::string> row;
  row.reserve(batch.num_columns());
  for (int c = 0; c < batch.num_columns(); ++c) {
    ARROW_ASSIGN_OR_RAISE(auto scalar, batch.column(c)->GetScalar(r));
    if (!scalar->is_valid) {
      row.push_back("NULL");
      continue;
    }
    // Arrow cannot write DuckDB's infinity or a year past 9999 (query/time_text.h), nor a
    // BIGNUM (query/bignum_text.h: Arrow's text of its encoding otherwise), nor a VARIANT
    // (query/variant_text.h: its two blobs otherwise).
    auto own = query::OwnTimeTextOf(*scalar);
    if (!own && query::IsDuckDBBignum(*scalar->type)) own = BignumCell(*scalar);
    if (!own && query::IsParquetVariant(*batch.schema()->field(c))) {
      own = VariantCell(*batch.column(c), r);
    }
    row.push_back(Printable(own ? *own : scalar->ToString()));
  }
  return row;
}

// A row limit (a terminal): the first rows are formatted as they come, the last ones once
// the result has ended (only the batches that hold them are kept), those between are
// counted. The header and first rows are written as soon as rows are sure to be left out.
arrow::Result<int64_t> WriteLimitedTable(arrow::RecordBatchReader* reader, TextTable& table,
                                         const std::shared_ptr<arrow::io::OutputStream>& sink,
                                         const TextTableLimits& limits) {
  const int64_t head_rows = (limits.rows + 1) / 2;
  const int64_t tail_rows = limits.rows - head_rows;
  std::deque<std::shared_ptr<arrow::RecordBatch>> last;  // rows after the head
  int64_t last_rows = 0;
  int64_t total = 0;
  std::optional<TextTable::Fitted> printed;  // set once the head is written
  auto write = [&](const std::string& text) {
    return sink->Write(text.data(), static_cast<int64_t>(text.size()));
  };
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (!batch) break;
    int64_t r = 0;
    for (; total + r < head_rows && r < batch->num_rows(); ++r) {
      ARROW_ASSIGN_OR_RAISE(auto row, FormatRow(*batch, r));
      table.Add(std::move(row));
    }
    total += batch->num_rows();
    if (r < batch->num_rows()) {
      last.push_back(r == 0 ? batch : batch->Slice(r));
      last_rows += batch->num_rows() - r;
    }
    while (!last.empty() && last_rows - last.front()->num_rows() >= tail_rows) {
      last_rows -= last.front()->num_rows();
      last.pop_front();
    }
    if (!printed && total > limits.rows) {
      printed = table.Fit(limits);
      ARROW_RETURN_NOT_OK(write(table.RenderHead(*printed)));
      ARROW_RETURN_NOT_OK(sink->Flush());
    }
  }
  // The last rows: those of the kept batches past the ones left out.
  const int64_t shown_last = std::min(last_rows, tail_rows);
  int64_t skip = last_rows - shown_last;
  table.Skip(total - table.rows() - shown_last);
  for (const auto& batch : last) {
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      if (skip > 0) {
        --skip;
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(auto row, FormatRow(*batch, r));
      table.Add(std::move(row));
    }
  }
  if (printed) {
    ARROW_RETURN_NOT_OK(write(table.RenderRest(*printed, limits, true, /*loose=*/true)));
  } else {
    ARROW_RETURN_NOT_OK(write(table.Render(limits)));
  }
  return total;
}

}  // namespace

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
  if (limits.rows > 0) return WriteLimitedTable(reader, table, sink, limits);
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
      ARROW_ASSIGN_OR_RAISE(auto row, FormatRow(*batch, r));
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
  // Before any byte, as the HTTP gateway asks: CSV of an interval failed after its
  // header, leaving a cut line on stdout (a hostile run).
  ARROW_RETURN_NOT_OK(query::CheckFormatFits(reader->schema(), format));
  return query::WriteResult(reader, format, sink);
}

}  // namespace arrowport::cli
