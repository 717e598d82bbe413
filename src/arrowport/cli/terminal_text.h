#pragma once

#include <cstddef>
#include <string>

// Text as a terminal shows it: what may be printed, and how many columns it takes.
namespace arrowport::cli {

/// "…", what a cut text ends with (UTF-8).
inline constexpr const char* kEllipsis = "\xE2\x80\xA6";

/// `text` safe to print: control characters (C0, DEL, C1: line breaks, escapes, CSI)
/// become spaces, and bytes that are not UTF-8 become U+FFFD. A value, a column name or a
/// server's answer can then neither break a table's lines nor drive the terminal.
std::string Printable(const std::string& text);

/// `text` with each line made Printable, its line breaks kept: what a terminal is shown
/// of text that elsewhere stays exact (a CSV or JSON result, an error message).
std::string PrintableLines(const std::string& text);

/// `text` as PrintableLines makes it when `fd` is a terminal; as is in a file or a pipe,
/// where the bytes are the data.
std::string ForTerminal(const std::string& text, int fd);

/// Columns `text` (printable UTF-8) takes: East Asian wide characters and emoji two,
/// combining marks none, everything else one.
size_t DisplayWidth(const std::string& text);

/// `text` in at most `width` columns: whole when it fits, else cut with "…".
std::string CutToWidth(const std::string& text, size_t width);

/// The width of the terminal on `fd` (0 when it is not a terminal); `COLUMNS` wins.
size_t TerminalWidth(int fd);

}  // namespace arrowport::cli
