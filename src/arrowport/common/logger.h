#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace arrowport {

/// \brief Writes one line per event to stderr, as text (`key=value`) or JSON objects.
/// Thread-safe: one mutex serialises lines.
class Logger {
 public:
  enum class Format { kText, kJson };
  enum class Level { kDebug, kInfo, kWarn, kError };
  using Fields = std::vector<std::pair<std::string, std::string>>;

  explicit Logger(Format format = Format::kText, Level min_level = Level::kInfo)
      : format_(format), min_level_(min_level) {}

  /// "debug", "info", "warn" or "error" (as in the config's log.level); nullopt otherwise.
  static std::optional<Level> ParseLevel(std::string_view name);

  void Log(Level level, std::string_view message, const Fields& fields = {});
  void Info(std::string_view message, const Fields& fields = {}) { Log(Level::kInfo, message, fields); }
  void Warn(std::string_view message, const Fields& fields = {}) { Log(Level::kWarn, message, fields); }
  void Error(std::string_view message, const Fields& fields = {}) { Log(Level::kError, message, fields); }

 private:
  Format format_;
  Level min_level_;
  std::mutex mutex_;  // serialises writes to stderr
};

}  // namespace arrowport
