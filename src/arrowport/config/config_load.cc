// Load (config.h): the YAML file, then ARROWPORT_* environment variables, then the
// command line's overrides, validated as a whole.
#include <cctype>

#include "arrowport/config/config.h"
#include "arrowport/config/config_file.h"
#include "arrowport/config/config_keys.h"
#include "arrowport/config/views_section.h"

namespace arrowport::config {

arrow::Result<Config> Load(const std::string& path,
                           const std::vector<std::string>& environ_entries,
                           const Overrides& overrides) {
  std::string text;
  if (!path.empty()) {
    ARROW_ASSIGN_OR_RAISE(text, ReadConfigFile(path));
  }
  return LoadText(text, path, environ_entries, overrides);
}

arrow::Result<Config> LoadText(const std::string& text, const std::string& path,
                               const std::vector<std::string>& environ_entries,
                               const Overrides& overrides) {
  Config config;
  if (!path.empty()) {
    ARROW_ASSIGN_OR_RAISE(config, ParseYaml(text, path));
  }
  // ARROWPORT_FLIGHT_PORT -> flight.port, ARROWPORT_DB_PATH -> db_path, ...
  for (const auto& entry : environ_entries) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || entry.rfind("ARROWPORT_", 0) != 0) continue;
    std::string name = entry.substr(10, eq - 10);
    const std::string value = entry.substr(eq + 1);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string key;
    for (const auto& [candidate, setter] : ScalarKeys()) {
      std::string flat = candidate;
      for (auto& ch : flat) if (ch == '.') ch = '_';
      if (flat == name) key = candidate;
    }
    if (key.empty()) continue;  // other ARROWPORT_* variables belong to the scripts
    auto st = ScalarKeys().at(key)(config, value);
    if (!st.ok()) {
      return arrow::Status::Invalid("environment ", entry.substr(0, eq), ": ", st.message());
    }
  }
  if (overrides.db_path) config.db_path = *overrides.db_path;
  if (overrides.flight_host) config.flight.host = *overrides.flight_host;
  if (overrides.flight_port) config.flight.port = *overrides.flight_port;
  if (overrides.http_host) config.http.host = *overrides.http_host;
  if (overrides.http_port) config.http.port = *overrides.http_port;
  if (overrides.log_format) config.log_format = *overrides.log_format;
  if (overrides.metrics_port) config.metrics.port = *overrides.metrics_port;
  ARROW_RETURN_NOT_OK(ApplyParquetOverride(overrides, &config));
  ARROW_RETURN_NOT_OK(Validate(config));
  return config;
}

}  // namespace arrowport::config
