#pragma once

#include <functional>
#include <map>
#include <string>

#include "arrow/status.h"
#include "arrowport/config/config.h"
#include "arrowport/config/integer_key.h"

// The `cluster` section (design section 14): the nodes that serve one lake together,
// which of them this one is, and the secret their tickets are sealed with. Internal to
// config/.
namespace arrowport::config {

/// cluster.self and cluster.secret_file for ScalarKeys: YAML and ARROWPORT_CLUSTER_*
/// alike (ARROWPORT_CLUSTER_SELF names the node when every node shares one file).
std::map<std::string, std::function<arrow::Status(Config&, const std::string&)>>
ClusterSectionKeys();
/// cluster.health_interval_ms for IntegerKeys.
std::map<std::string, IntegerKey> ClusterIntegerKeys();

/// Whether `name` may name a node: 1 to 63 of a-z, 0-9, _ and -.
bool IsClusterNodeName(const std::string& name);

}  // namespace arrowport::config
