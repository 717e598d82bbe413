// Load (config.h): the YAML file, then ARROWPORT_* environment variables, then the
// command line's overrides, validated as a whole.
#include <algorithm>
#include <cctype>

#include "arrowport/config/config.h"
#include "arrowport/config/config_file.h"
#include "arrowport/config/config_keys.h"
#include "arrowport/config/config_secrets.h"
#include "arrowport/config/views_section.h"

namespace arrowport::config {

namespace {

// One spelling of each bind address, whichever source it came from: an IPv6 literal
// without the brackets a URI writes around it ("[::1]" -> "::1"), since the listeners
// resolve the bare address and every URI built from it adds the brackets itself. A host
// with a colon that is not an IPv6 address ("127.0.0.1:8815", "[::1]:8815") would
// otherwise fail later in gRPC's URI parser with a message naming neither key nor fix.
arrow::Status NormalizeBindHost(const std::string& source, const std::string& key,
                                std::string* host) {
  if (auto address = Ipv6Address(*host)) {
    *host = std::move(*address);
    return arrow::Status::OK();
  }
  if (host->find_first_of("[]:") == std::string::npos) {
    // A name or an IPv4 address: letters, digits, '-', '.' and '_' (as resolvers take
    // them), at most 253 characters, or "" (every address).
    const bool plain = host->size() <= 253 &&
                       std::all_of(host->begin(), host->end(), [](unsigned char c) {
                         return std::isalnum(c) || c == '-' || c == '.' || c == '_';
                       });
    if (plain) return arrow::Status::OK();
    return arrow::Status::Invalid(source.empty() ? "config" : source, ": key '", key, "': '",
                                  *host, "' is neither a host name nor an IP address");
  }
  const std::string port_key = key.substr(0, key.rfind('.')) + ".port";
  return arrow::Status::Invalid(
      source.empty() ? "config" : source, ": key '", key, "': '", *host,
      "' is neither a host name nor an IPv4 or IPv6 address: write an IPv6 address bare "
      "or in brackets (::1 or [::1]) and the port in ", port_key, " on its own");
}

arrow::Status NormalizeBindHosts(Config* config) {
  for (auto [key, host] : {std::pair{"flight.host", &config->flight.host},
                           std::pair{"http.host", &config->http.host},
                           std::pair{"metrics.host", &config->metrics.host}}) {
    ARROW_RETURN_NOT_OK(NormalizeBindHost(config->SourceOf(key), key, host));
  }
  return arrow::Status::OK();
}

// Whether `name` (lower case, after ARROWPORT_) begins with a settings section and an
// underscore ("limits_", "flight_"): ARROWPORT_TLS_CA is the client commands' own.
bool LooksLikeSetting(const std::string& name) {
  if (name == "tls_ca") return false;
  const auto in_section = [&](const std::string& key) {
    const size_t dot = key.find('.');
    return dot != std::string::npos && name.rfind(key.substr(0, dot) + "_", 0) == 0;
  };
  for (const auto& [key, setter] : ScalarKeys()) {
    if (in_section(key)) return true;
  }
  return std::any_of(CompositeKeys().begin(), CompositeKeys().end(), in_section);
}

// "transfer.allowed_peers" -> "transfer_allowed_peers", as an ARROWPORT_* name spells it.
std::string Flat(std::string key) {
  std::replace(key.begin(), key.end(), '.', '_');
  return key;
}

}  // namespace

arrow::Result<Config> Load(const std::string& path,
                           const std::vector<std::string>& environ_entries,
                           const Overrides& overrides) {
  if (path.empty()) return LoadText("", path, environ_entries, overrides);
  ARROW_ASSIGN_OR_RAISE(const FileText file, ReadConfigFile(path));
  ARROW_ASSIGN_OR_RAISE(Config config,
                        LoadText(file.text, path, environ_entries, overrides));
  ARROW_RETURN_NOT_OK(CheckConfigFileAccess(file.readers, &config));
  return config;
}

arrow::Result<Config> LoadText(const std::string& text, const std::string& path,
                               const std::vector<std::string>& environ_entries,
                               const Overrides& overrides) {
  Config config;
  if (!path.empty()) {
    ARROW_ASSIGN_OR_RAISE(config, ParseYaml(text, path));
    config.secrets_in_file = SecretKeys(config);
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
      if (Flat(candidate) == name) key = candidate;
    }
    const std::string variable = entry.substr(0, eq);
    if (key.empty()) {
      const auto& lists = CompositeKeys();
      auto list = std::find_if(lists.begin(), lists.end(),
                               [&](const std::string& k) { return Flat(k) == name; });
      if (list != lists.end()) {
        ARROW_RETURN_NOT_OK(SetCompositeFromEnvironment(*list, value, variable, &config));
        config.set_over_file[*list] = "environment " + variable;
        continue;
      }
      // Other ARROWPORT_* variables belong to the scripts and the client commands, unless
      // they begin as a section's settings do.
      if (LooksLikeSetting(name)) config.unknown_environment.push_back(variable);
      continue;
    }
    auto st = ScalarKeys().at(key)(config, value);
    if (!st.ok()) {
      return arrow::Status::Invalid("environment ", variable, ": ", st.message());
    }
    config.set_over_file[key] = "environment " + variable;
  }
  const auto flag = [&config](const char* key, const char* name, const auto& value,
                              auto* field) {
    if (!value) return;
    *field = *value;
    config.set_over_file[key] = std::string("flag ") + name;
  };
  flag("db_path", "--db", overrides.db_path, &config.db_path);
  flag("flight.host", "--host", overrides.flight_host, &config.flight.host);
  flag("flight.port", "--flight-port", overrides.flight_port, &config.flight.port);
  flag("http.host", "--host", overrides.http_host, &config.http.host);
  flag("http.port", "--http-port", overrides.http_port, &config.http.port);
  flag("log.format", "--log-format", overrides.log_format, &config.log_format);
  flag("metrics.port", "--metrics-port", overrides.metrics_port, &config.metrics.port);
  ARROW_RETURN_NOT_OK(ApplyParquetOverride(overrides, &config));
  ARROW_RETURN_NOT_OK(NormalizeBindHosts(&config));
  ARROW_RETURN_NOT_OK(Validate(config));
  return config;
}

}  // namespace arrowport::config
