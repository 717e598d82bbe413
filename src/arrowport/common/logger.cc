#include "arrowport/common/logger.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iterator>

#include <nlohmann/json.hpp>

#include "arrowport/common/json_util.h"

namespace arrowport {

namespace {
std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      now.time_since_epoch()).count() % 1000;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}
// Invalid UTF-8 (client data quoted in messages) becomes U+FFFD, so lines stay valid.
std::string DumpJson(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error"};
}  // namespace

std::optional<Logger::Level> Logger::ParseLevel(std::string_view name) {
  for (size_t i = 0; i < std::size(kLevelNames); ++i) {
    if (name == kLevelNames[i]) return static_cast<Level>(i);
  }
  return std::nullopt;
}

void Logger::Log(Level severity, std::string_view message, const Fields& fields) {
  if (severity < min_level_) return;
  const std::string_view level = kLevelNames[static_cast<size_t>(severity)];
  std::string line;
  if (format_ == Format::kJson) {
    nlohmann::ordered_json event = {
        {"ts", Timestamp()}, {"level", level}, {"msg", message}};
    for (const auto& [k, v] : fields) event[k] = v;
    line = DumpJson(event) + "\n";
  } else {
    line = Timestamp() + " " + std::string(level) + " " + std::string(message);
    for (const auto& [k, v] : fields) {
      line += " " + k + "=" + (NeedsQuotes(v) ? DumpJson(v) : v);
    }
    // Messages quote client data, which may be any bytes (JSON values are already clean).
    line = SanitizeUtf8(line) + "\n";
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace arrowport
