#pragma once

#include <string>
#include <vector>

#include "arrow/status.h"
#include "arrowport/config/config.h"

namespace YAML {
class Node;
}

// The `transfer` section: the peers `copy_from` and `copy_to` may reach, and the
// credentials for each. Internal to config/.
namespace arrowport::config {

/// Parses `transfer.peers` ({"host:port": {user, password | token, tls_ca}}) into
/// `config->transfer.peers`. Unknown keys, a password without a user, a user and a token
/// both, and a token that is not printable ASCII are errors naming the peer.
arrow::Status ParseTransferPeers(const YAML::Node& node, const std::string& source,
                                 Config* config);

/// Checks `transfer.allowed_peers` (at `path` in `source`): each a host:port pattern
/// whose port is a number from 1 to 65535 or "*", without spaces, control characters
/// or a path.
arrow::Status CheckAllowedPeers(const std::vector<std::string>& patterns,
                                const std::string& source, const std::string& path);

}  // namespace arrowport::config
