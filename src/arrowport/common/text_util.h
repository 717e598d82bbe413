#pragma once

#include <string>
#include <string_view>

namespace arrowport {

/// The white space a secret file or a header line may carry around its value.
inline constexpr std::string_view kBlankChars = " \t\r\n";

/// \brief `text` without the `blanks` it starts and ends with: a view into `text`.
std::string_view Trimmed(std::string_view text, std::string_view blanks = kBlankChars);

/// \brief `bytes` in hexadecimal, two lowercase digits a byte ("00ff"): digests, ids.
std::string HexText(std::string_view bytes);

/// \brief The same with uppercase digits ("00FF"): DuckDB's spelling of a blob's bytes.
std::string HexTextUpper(std::string_view bytes);

}  // namespace arrowport
