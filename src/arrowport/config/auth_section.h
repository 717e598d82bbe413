#pragma once

#include <string>

#include "arrow/status.h"
#include "arrowport/config/config.h"

namespace YAML {
class Node;
}

// The `auth` section (design section 7): the user list, and the secure-by-default rules
// that tie authentication to the bind addresses. Internal to config/.
namespace arrowport::config {

/// Parses `auth.users` (a list of {name, password_hash, role, tables, streams}) into
/// `config->auth.users`. Unknown keys, missing names or hashes and bad roles are errors
/// naming `source` and the entry.
arrow::Status ParseAuthUsers(const YAML::Node& node, const std::string& source,
                             Config* config);

/// Cross-field checks of the auth section: every password_hash is an argon2id string
/// (plain text refused), names unique, auth.enabled: true needs users, and a
/// non-loopback bind without authentication needs an explicit auth.enabled: false.
arrow::Status ValidateAuth(const Config& config);

}  // namespace arrowport::config
