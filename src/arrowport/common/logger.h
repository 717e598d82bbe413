#pragma once

#include <cstdint>
#include <mutex>
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
  using Fields = std::vector<std::pair<std::string, std::string>>;

  explicit Logger(Format format = Format::kText) : format_(format) {}

  void Log(std::string_view level, std::string_view message, const Fields& fields = {});
  void Info(std::string_view message, const Fields& fields = {}) { Log("info", message, fields); }
  void Warn(std::string_view message, const Fields& fields = {}) { Log("warn", message, fields); }
  void Error(std::string_view message, const Fields& fields = {}) { Log("error", message, fields); }

 private:
  Format format_;
  std::mutex mutex_;  // serialises writes to stderr
};

}  // namespace arrowport
