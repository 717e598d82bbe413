#pragma once

// One spelling of an instant in what the server reports: the status page, /status, the
// storage's health and the streams' last writes.

#include <cstdint>
#include <ctime>
#include <string>

namespace arrowport {

/// `unix_seconds` in ISO 8601, UTC, to the second: "2026-11-25T20:29:53Z".
inline std::string IsoUtcTime(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace arrowport
