#pragma once

#include <string>
#include <vector>

#include "arrow/status.h"
#include "arrowport/config/config.h"
#include "arrowport/config/config_file.h"

// Secrets in a config file (design section 13): a file that holds one must be readable by
// its owner alone, as OpenSSH and PostgreSQL require of their private keys.
namespace arrowport::config {

/// \brief The keys of `file_config` (a config as its file gave it, before the environment
/// and the flags) whose values are secrets: auth.token_secret, the users' password_hash,
/// s3.secret_access_key and s3.session_token, transfer.peers' password and token, a
/// DuckLake catalog's PostgreSQL password, duckdb.init_sql statements naming a secret or
/// a password. Empty when there is none.
std::vector<std::string> SecretKeys(const Config& file_config);

/// \brief Refuses (Invalid) a config file every user may change, and one holding secrets
/// (`config.secrets_in_file`) that every user may read, naming the file (and the keys)
/// and the fix; sets `config->exposure_warning` (the server logs it) when its group or
/// an owner other than root or the server's user may change it, or a group or users an
/// ACL names may read its secrets. A file holding no secret may be read by anyone.
arrow::Status CheckConfigFileAccess(const FileReaders& readers, Config* config);

}  // namespace arrowport::config
