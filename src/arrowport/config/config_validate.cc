// Validate (config.h): the whole configuration, after the file, the environment and the
// flags, each refusal naming where its value came from (Config::SourceOf).
#include "arrowport/config/config.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <utility>

#include "arrowport/common/logger.h"
#include "arrowport/config/auth_section.h"
#include "arrowport/config/cluster_nodes.h"
#include "arrowport/config/config_keys.h"

namespace arrowport::config {

namespace {

// The files' contents (PEM, matching key) are checked when the server loads them.
arrow::Status ValidateTls(const Config& c) {
  const Config::Tls& tls = c.tls;
  if (tls.cert.empty() != tls.key.empty()) {
    const char* given = tls.cert.empty() ? "tls.key" : "tls.cert";
    return KeyError(c.SourceOf(given), "tls", "cert and key must be given together");
  }
  if (!tls.client_ca.empty() && tls.cert.empty()) {
    return KeyError(c.SourceOf("tls.client_ca"), "tls.client_ca",
                    "needs tls.cert and tls.key (mutual TLS is TLS)");
  }
  for (const auto& [key, path] : {std::pair<const char*, const std::string&>{"tls.cert", tls.cert},
                                  {"tls.key", tls.key},
                                  {"tls.client_ca", tls.client_ca}}) {
    if (path.empty()) continue;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return KeyError(c.SourceOf(key), key, "'" + path + "' is not a file" +
                                    (std::filesystem::exists(path, ec) ? "" : " (no such file)"));
    }
    if (::access(path.c_str(), R_OK) != 0) {
      return KeyError(c.SourceOf(key), key,
                      "'" + path + "' is not readable: " + std::strerror(errno));
    }
  }
  return arrow::Status::OK();
}

}  // namespace

std::string Config::SourceOf(const std::string& key) const {
  auto it = set_over_file.find(key);
  if (it != set_over_file.end()) return it->second;
  return source.empty() ? "config" : source;
}

arrow::Status Validate(const Config& c) {
  const auto error = [&c](const std::string& key, const std::string& reason) {
    return KeyError(c.SourceOf(key), key, reason);
  };
  for (const auto& [key, integer] : IntegerKeys()) {
    auto st = CheckRange(integer, integer.get(c));
    if (!st.ok()) return error(key, st.message());
  }
  if (c.db_path.empty()) return error("db_path", "must not be empty");
  static const std::set<std::string> algorithms = {"zstd", "lz4", "none"};
  if (!algorithms.count(c.compression_algorithm)) {
    return error("compression.algorithm", "must be zstd, lz4 or none");
  }
  ARROW_RETURN_NOT_OK(ValidateTls(c));
  ARROW_RETURN_NOT_OK(ValidateAuth(c));
  if (!Logger::ParseLevel(c.log_level)) {
    return error("log.level", "must be debug, info, warn or error");
  }
  if (c.log_format != "text" && c.log_format != "json") {
    return error("log.format", "must be text or json");
  }
  if (c.backup.every_s > 0 && c.backup.to.empty()) {
    return error("backup.every", "scheduled backups need a destination (backup.to)");
  }
  ARROW_RETURN_NOT_OK(ValidateCluster(c));
  if (c.metrics.port && !c.metrics.enabled) {
    return error("metrics.port",
                 "a metrics listener needs metrics on (metrics.enabled is false)");
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::config
