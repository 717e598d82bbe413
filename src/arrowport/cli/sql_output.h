#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/cli/text_table.h"

namespace arrowport::cli {

/// How the SQL shell prints a result (`.mode`).
enum class ShellMode { kTable, kCsv, kJson, kLine };

/// table, csv, json or line; Invalid naming the choices otherwise.
arrow::Result<ShellMode> ParseShellMode(const std::string& name);
const char* ShellModeName(ShellMode mode);

/// \brief Where the shell's results go (`.output FILE`, or standard output) and how
/// (`.mode`): a table fitted to the terminal on standard output, whole in a file.
class ShellOutput {
 public:
  ShellOutput();
  ~ShellOutput();

  /// Results go to `path` from now on (replacing it), or back to standard output ("").
  arrow::Status Redirect(const std::string& path);
  void set_mode(ShellMode mode) { mode_ = mode; }
  ShellMode mode() const { return mode_; }

  /// Writes every row of `reader` in the mode; returns the number of rows.
  arrow::Result<int64_t> Write(arrow::RecordBatchReader* reader);
  /// Writes `text` as is (.tables, .schema).
  arrow::Status WriteText(const std::string& text);
  /// The limits a table is fitted to where it goes.
  TextTableLimits limits() const;

 private:
  ShellMode mode_ = ShellMode::kTable;
  std::string path_;  // "" standard output
  std::shared_ptr<arrow::io::OutputStream> sink_;
};

}  // namespace arrowport::cli
