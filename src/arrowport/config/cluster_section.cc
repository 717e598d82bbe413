#include "arrowport/config/cluster_section.h"

#include <cctype>

namespace arrowport::config {

bool IsClusterNodeName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (unsigned char c : name) {
    if (!(std::islower(c) || std::isdigit(c) || c == '_' || c == '-')) return false;
  }
  return true;
}

std::map<std::string, std::function<arrow::Status(Config&, const std::string&)>>
ClusterSectionKeys() {
  return {
      {"cluster.self",
       [](Config& c, const std::string& v) {
         if (!IsClusterNodeName(v)) {
           return arrow::Status::Invalid("must be a node's name (1 to 63 of a-z, 0-9, _ "
                                         "and -), got '", v, "'");
         }
         c.cluster.self = v;
         return arrow::Status::OK();
       }},
      {"cluster.secret_file",
       [](Config& c, const std::string& v) {
         c.cluster.secret_file = v;
         return arrow::Status::OK();
       }},
  };
}

std::map<std::string, IntegerKey> ClusterIntegerKeys() {
  return {
      {"cluster.health_interval_ms",
       {100, 60000,
        [](const Config& c) -> int64_t { return c.cluster.health_interval_ms; },
        [](Config& c, int64_t v) { c.cluster.health_interval_ms = v; }}},
  };
}

}  // namespace arrowport::config
