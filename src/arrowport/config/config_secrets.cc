#include "arrowport/config/config_secrets.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "arrowport/common/secret_text.h"

namespace arrowport::config {

namespace {

std::string Octal(uint32_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", mode);
  return text;
}

std::string Joined(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& key : keys) out += (out.empty() ? "" : ", ") + key;
  return out;
}

}  // namespace

std::vector<std::string> SecretKeys(const Config& c) {
  std::vector<std::string> keys;
  if (!c.auth.token_secret.empty()) keys.push_back("auth.token_secret");
  for (const auto& user : c.auth.users) {
    if (!user.password_hash.empty()) {
      keys.push_back("auth.users[].password_hash");
      break;
    }
  }
  if (!c.s3.secret_access_key.empty()) keys.push_back("s3.secret_access_key");
  if (!c.s3.session_token.empty()) keys.push_back("s3.session_token");
  for (const auto& [peer, credentials] : c.transfer.peers) {
    const std::string key = "transfer.peers." + peer;
    if (!credentials.password.empty()) keys.push_back(key + ".password");
    if (!credentials.token.empty()) keys.push_back(key + ".token");
  }
  for (const auto& [name, stream] : c.streams) {
    if (stream.lake.format == LakeFormat::kDuckLake && HoldsPassword(stream.lake.catalog)) {
      keys.push_back("streams." + name + ".ducklake.catalog");
    }
  }
  for (size_t i = 0; i < c.duckdb_init_sql.size(); ++i) {
    if (HoldsSecret(c.duckdb_init_sql[i])) {
      keys.push_back("duckdb.init_sql[" + std::to_string(i) + "]");
    }
  }
  return keys;
}

arrow::Status CheckConfigFileAccess(const FileReaders& readers, Config* config) {
  config->exposure_warning.clear();
  const std::string& path = config->source;
  // Whoever may change the file decides who signs in and what SQL runs at start: refused
  // when that is every user, whatever it holds now (a reload applies the edit).
  if ((readers.mode & S_IWOTH) != 0) {
    return arrow::Status::Invalid(
        "config file '", path, "' may be changed by every user of this machine (mode ",
        Octal(readers.mode), "): refused. Make it writable by its owner only: chmod go-w ",
        path, " (docs/security.md#secrets-in-the-config)");
  }
  std::string changers;
  if ((readers.mode & S_IWGRP) != 0) changers = "its group";
  if (readers.owner != 0 && readers.owner != ::geteuid()) {
    changers += (changers.empty() ? "" : " and ") + std::string("its owner, user ") +
                std::to_string(readers.owner);
  }
  if (!changers.empty()) {
    config->exposure_warning = "config file '" + path + "' may be changed by " + changers +
                               " (mode " + Octal(readers.mode) +
                               "), not only by root or the server's user";
  }
  if (config->secrets_in_file.empty() || (!readers.everyone && readers.others.empty())) {
    return arrow::Status::OK();
  }
  const std::string what = "config file '" + path + "' holds secrets (" +
                           Joined(config->secrets_in_file) + ")";
  if (readers.everyone) {
    // The fix keeps the file readable by the server: its owner, or root.
    const bool ours = ::geteuid() == 0 || ::geteuid() == readers.owner;
    const std::string chmod = "chmod 600 " + path;
    const std::string fix = ours ? chmod
                                 : "chown " + std::to_string(::geteuid()) + " " + path +
                                       " && " + chmod +
                                       " (or have systemd hand it over: LoadCredential=)";
    return arrow::Status::Invalid(
        what, " and every user of this machine may read it (mode ", Octal(readers.mode),
        "): refused. Make it readable by its owner only: ", fix,
        " (docs/security.md#secrets-in-the-config)");
  }
  config->exposure_warning += (config->exposure_warning.empty() ? "" : "; ") + what +
                             " and " + readers.others + " may read it (mode " +
                             Octal(readers.mode) + "); if no one else should: chmod 600 " +
                             path;
  return arrow::Status::OK();
}

}  // namespace arrowport::config
