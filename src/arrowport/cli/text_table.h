#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/query/result_writer.h"

namespace arrow::io {
class OutputStream;
}

namespace arrowport::cli {

/// How a table is fitted to where it is printed.
struct TextTableLimits {
  /// Columns in all (0: no limit). Wider cells are cut with "…"; columns that still do not
  /// fit are left out and named in a note under the table.
  size_t width = 0;
  /// Rows shown (0: all): the first and last half of them, with a "…" row between.
  int64_t rows = 0;
};

/// The limits for standard output: its terminal's width and 40 rows on a terminal, none
/// when it is a file or a pipe (then the first 1,000 rows set the widths and the rest are
/// written as they come). `COLUMNS` overrides the measured width.
TextTableLimits StdoutLimits();

/// \brief Rows of text printed in aligned columns: `a | b` with a `--+--` rule under the
/// header, numbers right-aligned, widths counted in terminal columns. Every cell and name
/// is made Printable (terminal_text.h).
class TextTable {
 public:
  /// `right_aligned[i]`: column i holds numbers.
  explicit TextTable(std::vector<std::string> header, std::vector<bool> right_aligned = {});

  /// Adds a row (as many cells as the header). With a row limit, only the first and last
  /// rows are kept: memory stays bounded however many rows come.
  void Add(std::vector<std::string> row);
  int64_t rows() const { return total_; }

  /// The table fitted to `limits`, then "(N rows)" when `count_line`.
  std::string Render(const TextTableLimits& limits, bool count_line = true) const;

  /// Rows counted but neither kept nor shown (between the first and the last ones).
  void Skip(int64_t rows) { total_ += rows; }

  /// The columns' widths once fitted to a width (`natural`: before narrowing) and how
  /// many columns are shown.
  struct Fitted {
    std::vector<size_t> widths, natural;
    size_t columns = 0;
  };
  Fitted Fit(const TextTableLimits& limits) const;
  /// The header, its rule and the first rows, in `fitted`'s widths.
  std::string RenderHead(const Fitted& fitted) const;
  /// What follows the first rows: the "…" row when rows were left out, the last rows,
  /// the note on columns left out, and "(N rows)" when `count_line`. `loose`: the last
  /// rows were not measured for `fitted` (the head was printed before they came): a cell
  /// wider than its column is cut only in a column narrowed to fit, and the line to
  /// `limits.width`.
  std::string RenderRest(const Fitted& fitted, const TextTableLimits& limits,
                         bool count_line, bool loose = false) const;

  /// Sets the row limit used while rows are added (Render should get the same).
  void KeepRows(int64_t limit) { keep_ = limit; }

  /// Each column's width: its widest kept cell or its header, in terminal columns.
  std::vector<size_t> Widths() const;

 private:
  std::vector<std::string> header_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> head_;  // the first rows
  std::vector<std::vector<std::string>> tail_;  // the last rows (a ring), when limited
  size_t tail_next_ = 0;
  int64_t keep_ = 0;
  int64_t total_ = 0;
};

/// \brief Prints every row of `reader` as a TextTable fitted to `limits`; returns the
/// number of rows. With a row limit, only the rows shown are formatted, and the header and
/// first rows are written as soon as rows are known to be left out (a long result on a
/// terminal shows its start at once, not when it has all come).
arrow::Result<int64_t> WriteTextTable(arrow::RecordBatchReader* reader,
                                      const std::shared_ptr<arrow::io::OutputStream>& sink,
                                      const TextTableLimits& limits);

/// \brief Writes every row of `reader` to `sink` in `format`: the aligned table fitted to
/// `limits`, any other format by query::WriteResult. Returns the number of rows.
arrow::Result<int64_t> WriteFormatted(arrow::RecordBatchReader* reader, query::ResultFormat format,
                                      const std::shared_ptr<arrow::io::OutputStream>& sink,
                                      const TextTableLimits& limits = {});

}  // namespace arrowport::cli
