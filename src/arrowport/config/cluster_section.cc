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
      {"cluster.health_interval_ms",
       [](Config& c, const std::string& v) {
         const bool digits = !v.empty() && v.size() <= 6 &&
                             v.find_first_not_of("0123456789") == std::string::npos;
         const int64_t ms = digits ? std::stoll(v) : -1;
         if (ms < 100 || ms > 60000) {
           return arrow::Status::Invalid("must be 100..60000, got '", v, "'");
         }
         c.cluster.health_interval_ms = ms;
         return arrow::Status::OK();
       }},
  };
}

}  // namespace arrowport::config
