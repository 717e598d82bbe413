#include "arrowport/config/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "arrowport/common/identifier.h"
#include "arrowport/common/logger.h"

namespace arrowport::config {

const char* ToString(CommitMode mode) {
  return mode == CommitMode::kPerBatch ? "per_batch" : "per_request";
}

const char* ToString(SchemaPolicy policy) {
  switch (policy) {
    case SchemaPolicy::kAddColumns: return "add_columns";
    case SchemaPolicy::kIgnoreExtra: return "ignore_extra";
    default: return "strict";
  }
}

arrow::Result<CommitMode> ParseCommitMode(const std::string& text) {
  if (text == "per_request") return CommitMode::kPerRequest;
  if (text == "per_batch") return CommitMode::kPerBatch;
  return arrow::Status::Invalid("commit must be per_request or per_batch, got '", text, "'");
}

arrow::Result<SchemaPolicy> ParseSchemaPolicy(const std::string& text) {
  if (text == "strict") return SchemaPolicy::kStrict;
  if (text == "add_columns") return SchemaPolicy::kAddColumns;
  if (text == "ignore_extra") return SchemaPolicy::kIgnoreExtra;
  return arrow::Status::Invalid(
      "schema_policy must be strict, add_columns or ignore_extra, got '", text, "'");
}

namespace {

// Errors carry "<source>: key '<a.b>': <reason>" so users can find the line to fix.
arrow::Status KeyError(const std::string& source, const std::string& key,
                       const std::string& reason) {
  return arrow::Status::Invalid(source.empty() ? "config" : source, ": key '", key,
                                "': ", reason);
}

arrow::Result<int64_t> ParseInt(const std::string& text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return arrow::Status::Invalid("'", text, "' is not an integer");
  }
  return value;
}

arrow::Result<bool> ParseBool(const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  return arrow::Status::Invalid("'", text, "' is not a boolean");
}

// One setter per canonical scalar key; the same table serves YAML and environment.
using Setter = std::function<arrow::Status(Config&, const std::string&)>;

Setter IntSetter(int Config::*field) {
  return [field](Config& c, const std::string& v) {
    ARROW_ASSIGN_OR_RAISE(auto n, ParseInt(v));
    c.*field = static_cast<int>(n);
    return arrow::Status::OK();
  };
}
Setter Int64Setter(int64_t Config::*field) {
  return [field](Config& c, const std::string& v) {
    ARROW_ASSIGN_OR_RAISE(c.*field, ParseInt(v));
    return arrow::Status::OK();
  };
}
Setter StringSetter(std::string Config::*field) {
  return [field](Config& c, const std::string& v) {
    c.*field = v;
    return arrow::Status::OK();
  };
}

Setter LimitSetter(int64_t Config::Limits::*field) {
  return [field](Config& c, const std::string& v) {
    ARROW_ASSIGN_OR_RAISE(c.limits.*field, ParseInt(v));
    return arrow::Status::OK();
  };
}

Setter HostSetter(Endpoint Config::*endpoint) {
  return [endpoint](Config& c, const std::string& v) {
    (c.*endpoint).host = v;
    return arrow::Status::OK();
  };
}
Setter PortSetter(Endpoint Config::*endpoint) {
  return [endpoint](Config& c, const std::string& v) {
    ARROW_ASSIGN_OR_RAISE(auto n, ParseInt(v));
    (c.*endpoint).port = static_cast<int>(n);
    return arrow::Status::OK();
  };
}

const std::map<std::string, Setter>& ScalarKeys() {
  static const std::map<std::string, Setter> keys{
      {"db_path", StringSetter(&Config::db_path)},
      {"flight.host", HostSetter(&Config::flight)},
      {"flight.port", PortSetter(&Config::flight)},
      {"http.host", HostSetter(&Config::http)},
      {"http.port", PortSetter(&Config::http)},
      {"http.max_body_bytes", Int64Setter(&Config::http_max_body_bytes)},
      {"tls.cert", StringSetter(&Config::tls_cert)},
      {"tls.key", StringSetter(&Config::tls_key)},
      {"duckdb.threads", IntSetter(&Config::duckdb_threads)},
      {"duckdb.memory_limit", StringSetter(&Config::duckdb_memory_limit)},
      {"duckdb.checkpoint_interval_s", Int64Setter(&Config::checkpoint_interval_s)},
      {"compression.algorithm", StringSetter(&Config::compression_algorithm)},
      {"compression.level", IntSetter(&Config::compression_level)},
      {"defaults.chunk_size", Int64Setter(&Config::default_chunk_size)},
      {"http.max_connections", IntSetter(&Config::http_max_connections)},
      {"http.header_timeout_s", Int64Setter(&Config::http_header_timeout_s)},
      {"http.read_timeout_s", Int64Setter(&Config::http_read_timeout_s)},
      {"limits.max_batch_bytes", LimitSetter(&Config::Limits::max_batch_bytes)},
      {"limits.max_concurrent_requests", [](Config& c, const std::string& v) {
         ARROW_ASSIGN_OR_RAISE(auto n, ParseInt(v));
         c.limits.max_concurrent_requests = static_cast<int>(n);
         return arrow::Status::OK();
       }},
      {"limits.query_timeout_s", LimitSetter(&Config::Limits::query_timeout_s)},
      {"limits.shutdown_grace_s", LimitSetter(&Config::Limits::shutdown_grace_s)},
      {"auth.enabled", [](Config& c, const std::string& v) {
         ARROW_ASSIGN_OR_RAISE(c.auth_enabled, ParseBool(v));
         return arrow::Status::OK();
       }},
      {"auth.token_ttl_s", Int64Setter(&Config::auth_token_ttl_s)},
      {"log.level", StringSetter(&Config::log_level)},
      {"log.format", StringSetter(&Config::log_format)},
  };
  return keys;
}

// Seed projects' spellings, accepted as aliases of canonical keys.
const std::map<std::string, std::string>& Aliases() {
  static const std::map<std::string, std::string> aliases{
      {"api.host", "http.host"},          {"api.port", "http.port"},
      {"duckdb.path", "db_path"},         {"duckdb_extensions", "duckdb.extensions"},
  };
  return aliases;
}

std::string Canonical(const std::string& key) {
  auto it = Aliases().find(key);
  return it == Aliases().end() ? key : it->second;
}

arrow::Result<std::vector<std::string>> StringList(const YAML::Node& node,
                                                   const std::string& source,
                                                   const std::string& key) {
  std::vector<std::string> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) return KeyError(source, key, "expected a list of strings");
  for (const auto& item : node) {
    if (!item.IsScalar()) return KeyError(source, key, "expected a list of strings");
    out.push_back(item.as<std::string>());
  }
  return out;
}

arrow::Status ParseStream(const std::string& name, const YAML::Node& node,
                          const std::string& source, Config* config) {
  const std::string prefix = "streams." + name;
  auto valid = ValidateName("stream", name);
  if (!valid.ok()) return KeyError(source, prefix, valid.message());
  StreamConfig stream;
  stream.chunk_size = config->default_chunk_size;
  if (!node.IsNull() && !node.IsMap()) {
    return KeyError(source, prefix, "expected a mapping");
  }
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    const auto full = prefix + "." + key;
    if (!kv.second.IsScalar()) return KeyError(source, full, "expected a scalar value");
    const auto value = kv.second.as<std::string>();
    arrow::Status st;
    if (key == "target_table") {
      st = ValidateName("table", value);
      stream.target_table = value;
    } else if (key == "chunk_size") {
      auto n = ParseInt(value);
      st = n.status();
      if (n.ok()) {
        if (*n <= 0) st = arrow::Status::Invalid("must be positive");
        stream.chunk_size = *n;
      }
    } else if (key == "schema_policy") {
      auto p = ParseSchemaPolicy(value);
      st = p.status();
      if (p.ok()) stream.schema_policy = *p;
    } else if (key == "commit") {
      auto m = ParseCommitMode(value);
      st = m.status();
      if (m.ok()) stream.commit = *m;
    } else if (key == "compression") {
      if (value != "none" && value != "zstd" && value != "lz4") {
        st = arrow::Status::Invalid("must be zstd, lz4 or none, got '", value, "'");
      }
      stream.compression = value;
    } else {
      return KeyError(source, full,
                      "unknown key (known: target_table, chunk_size, schema_policy, commit, "
                      "compression)");
    }
    if (!st.ok()) return KeyError(source, full, st.message());
  }
  config->streams[name] = stream;
  return arrow::Status::OK();
}

arrow::Status ParseNode(const YAML::Node& node, const std::string& path,
                        const std::string& source, Config* config) {
  const std::string key = Canonical(path);
  if (key == "streams") {
    if (node.IsNull()) return arrow::Status::OK();
    if (!node.IsMap()) return KeyError(source, path, "expected a mapping of stream names");
    for (const auto& kv : node) {
      ARROW_RETURN_NOT_OK(ParseStream(kv.first.as<std::string>(), kv.second, source, config));
    }
    return arrow::Status::OK();
  }
  if (key == "views") {
    if (node.IsNull()) return arrow::Status::OK();
    if (!node.IsMap()) return KeyError(source, path, "expected a mapping of view names");
    for (const auto& kv : node) {
      const auto name = kv.first.as<std::string>();
      auto st = ValidateName("view", name);
      if (!st.ok()) return KeyError(source, "views." + name, st.message());
      if (!kv.second.IsScalar()) return KeyError(source, "views." + name, "expected a path");
      config->views[name] = kv.second.as<std::string>();
    }
    return arrow::Status::OK();
  }
  if (key == "duckdb.init_sql") {
    ARROW_ASSIGN_OR_RAISE(config->duckdb_init_sql, StringList(node, source, path));
    return arrow::Status::OK();
  }
  if (key == "duckdb.extensions") {
    ARROW_ASSIGN_OR_RAISE(config->duckdb_extensions, StringList(node, source, path));
    return arrow::Status::OK();
  }
  if (key == "auth.users") {
    if (!node.IsNull() && !node.IsSequence()) return KeyError(source, path, "expected a list");
    return arrow::Status::OK();  // user management lands with the auth work
  }
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const auto child = kv.first.as<std::string>();
      ARROW_RETURN_NOT_OK(
          ParseNode(kv.second, path.empty() ? child : path + "." + child, source, config));
    }
    return arrow::Status::OK();
  }
  auto it = ScalarKeys().find(key);
  if (it == ScalarKeys().end()) {
    return KeyError(source, path, "unknown key");
  }
  if (!node.IsScalar()) return KeyError(source, path, "expected a scalar value");
  auto st = it->second(*config, node.as<std::string>());
  if (!st.ok()) return KeyError(source, path, st.message());
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<Config> ParseYaml(const std::string& text, const std::string& source) {
  Config config;
  config.source = source;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return arrow::Status::Invalid(source, ": invalid YAML: ", e.what());
  }
  if (root.IsNull()) return config;
  if (!root.IsMap()) return arrow::Status::Invalid(source, ": expected a mapping at top level");
  // defaults.chunk_size applies to every stream, so read it before streams.
  if (root["defaults"] && root["defaults"]["chunk_size"]) {
    ARROW_RETURN_NOT_OK(
        ParseNode(root["defaults"]["chunk_size"], "defaults.chunk_size", source, &config));
  }
  try {
    for (const auto& kv : root) {
      ARROW_RETURN_NOT_OK(ParseNode(kv.second, kv.first.as<std::string>(), source, &config));
    }
  } catch (const YAML::Exception& e) {
    return arrow::Status::Invalid(source, ": ", e.what());
  }
  return config;
}

arrow::Status Validate(const Config& c) {
  const std::string src = c.source.empty() ? "config" : c.source;
  auto port_ok = [](int p) { return p >= 0 && p <= 65535; };
  if (!port_ok(c.flight.port)) return KeyError(src, "flight.port", "must be 0..65535");
  if (!port_ok(c.http.port)) return KeyError(src, "http.port", "must be 0..65535");
  if (c.db_path.empty()) return KeyError(src, "db_path", "must not be empty");
  if (c.http_max_body_bytes <= 0) return KeyError(src, "http.max_body_bytes", "must be positive");
  if (c.duckdb_threads < 0) return KeyError(src, "duckdb.threads", "must be >= 0");
  if (c.checkpoint_interval_s < 0) {
    return KeyError(src, "duckdb.checkpoint_interval_s", "must be >= 0");
  }
  if (c.limits.max_batch_bytes <= 0) {
    return KeyError(src, "limits.max_batch_bytes", "must be positive");
  }
  if (c.limits.max_concurrent_requests <= 0) {
    return KeyError(src, "limits.max_concurrent_requests", "must be positive");
  }
  if (c.limits.query_timeout_s < 0) return KeyError(src, "limits.query_timeout_s", "must be >= 0");
  if (c.limits.shutdown_grace_s < 0) {
    return KeyError(src, "limits.shutdown_grace_s", "must be >= 0");
  }
  if (c.http_max_connections <= 0) return KeyError(src, "http.max_connections", "must be positive");
  if (c.http_header_timeout_s <= 0) return KeyError(src, "http.header_timeout_s", "must be positive");
  if (c.http_read_timeout_s <= 0) return KeyError(src, "http.read_timeout_s", "must be positive");
  if (c.default_chunk_size <= 0) return KeyError(src, "defaults.chunk_size", "must be positive");
  static const std::set<std::string> algorithms = {"zstd", "lz4", "none"};
  if (!algorithms.count(c.compression_algorithm)) {
    return KeyError(src, "compression.algorithm", "must be zstd, lz4 or none");
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return KeyError(src, "tls", "cert and key must be given together");
  }
  // Refused rather than ignored: serving plaintext or without authentication when the
  // configuration asks otherwise would be a silent security hole.
  if (!c.tls_cert.empty()) {
    return KeyError(src, "tls", "TLS is not supported by this version yet; terminate TLS in "
                                "front of Arrowport or remove the tls section");
  }
  if (c.auth_enabled) {
    return KeyError(src, "auth.enabled", "authentication is not supported by this version "
                                         "yet; bind to 127.0.0.1 or remove auth.enabled");
  }
  if (!Logger::ParseLevel(c.log_level)) {
    return KeyError(src, "log.level", "must be debug, info, warn or error");
  }
  if (c.log_format != "text" && c.log_format != "json") {
    return KeyError(src, "log.format", "must be text or json");
  }
  return arrow::Status::OK();
}

arrow::Result<Config> Load(const std::string& path,
                           const std::vector<std::string>& environ_entries,
                           const Overrides& overrides) {
  Config config;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return arrow::Status::IOError("cannot read config file '", path, "'");
    std::stringstream text;
    text << in.rdbuf();
    ARROW_ASSIGN_OR_RAISE(config, ParseYaml(text.str(), path));
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
  ARROW_RETURN_NOT_OK(Validate(config));
  return config;
}

StreamConfig RouteFor(const Config& config, const std::string& stream) {
  auto it = config.streams.find(stream);
  StreamConfig route;
  if (it != config.streams.end()) {
    route = it->second;
  } else {
    route.chunk_size = config.default_chunk_size;
  }
  if (route.target_table.empty()) route.target_table = stream;
  return route;
}

}  // namespace arrowport::config
