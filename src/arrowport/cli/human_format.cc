#include "arrowport/cli/human_format.h"

#include <cstdint>
#include <cstdio>

namespace arrowport::cli {

std::string Grouped(int64_t n) {
  // The magnitude as unsigned: -INT64_MIN does not fit an int64.
  const uint64_t magnitude = n < 0 ? uint64_t{0} - static_cast<uint64_t>(n)
                                   : static_cast<uint64_t>(n);
  const std::string digits = std::to_string(magnitude);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), unit ? "%.1f %s" : "%.0f %s", bytes, units[unit]);
  return text;
}

std::string HumanCount(double n) {
  char text[32];
  if (n >= 1e6) {
    std::snprintf(text, sizeof(text), "%.2f M", n / 1e6);
  } else if (n >= 1e3) {
    std::snprintf(text, sizeof(text), "%.1f k", n / 1e3);
  } else {
    std::snprintf(text, sizeof(text), "%.0f", n);
  }
  return text;
}

std::string Clock(double seconds) {
  const auto s = static_cast<long long>(seconds);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(text, sizeof(text), "%lld:%02lld", s / 60, s % 60);
  }
  return text;
}

std::string Duration(double seconds) {
  const auto s = static_cast<long long>(seconds);
  char text[32];
  if (s >= 86400) {
    std::snprintf(text, sizeof(text), "%lldd %lldh", s / 86400, s % 86400 / 3600);
  } else if (s >= 3600) {
    std::snprintf(text, sizeof(text), "%lldh %02lldm", s / 3600, s % 3600 / 60);
  } else if (s >= 60) {
    std::snprintf(text, sizeof(text), "%lldm %02llds", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof(text), "%llds", s);
  }
  return text;
}

}  // namespace arrowport::cli
