#pragma once

#include <cstdint>
#include <string>

// How the CLI writes numbers for people (progress lines, status, tables).
namespace arrowport::cli {

/// 1234567 -> "1,234,567".
std::string Grouped(int64_t n);
/// 1536 -> "1.5 KiB" (binary units).
std::string HumanBytes(double bytes);
/// 2100000 -> "2.10 M", 1500 -> "1.5 k", 12 -> "12".
std::string HumanCount(double n);
/// Seconds as "m:ss", or "h:mm:ss" from an hour on.
std::string Clock(double seconds);
/// Seconds as "45s", "3m 05s", "2h 10m", "3d 4h".
std::string Duration(double seconds);

}  // namespace arrowport::cli
