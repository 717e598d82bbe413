#pragma once

#include <string>

#include "arrow/status.h"
#include "arrowport/config/config.h"

namespace YAML {
class Node;
}

// The `cluster` section's node list and its checks as a whole (cluster_section.h has its
// single keys). Internal to config/.
namespace arrowport::config {
/// Parses `cluster.nodes` ([{name, flight, http}, ...]) into `config->cluster.nodes`:
/// unknown keys, a missing key, a name that is not [a-z0-9_-] (1..63), a name given twice
/// and URLs of the wrong scheme are errors naming the node.
arrow::Status ParseClusterNodes(const YAML::Node& node, const std::string& source,
                                Config* config);

/// The section as a whole, once every source is read: `self` names one of `nodes`, and a
/// cluster has a secret file; no keys without nodes.
arrow::Status ValidateCluster(const Config& config);

}  // namespace arrowport::config
