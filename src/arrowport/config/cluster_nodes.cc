#include "arrowport/config/cluster_nodes.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "arrowport/config/cluster_section.h"
#include "arrowport/config/config_keys.h"

namespace arrowport::config {

namespace {

constexpr const char* kNodes = "cluster.nodes";

// A URL with one of `schemes` ("grpc://", ...) and a host after it, printable, no spaces.
bool HasScheme(const std::string& url, std::initializer_list<const char*> schemes) {
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  for (const char* scheme : schemes) {
    const std::string prefix(scheme);
    if (url.rfind(prefix, 0) == 0 && url.size() > prefix.size()) return true;
  }
  return false;
}

arrow::Result<Config::Cluster::Node> ParseNodeEntry(const YAML::Node& entry,
                                                    const std::string& source,
                                                    const std::string& at) {
  if (!entry.IsMap()) return KeyError(source, at, "expected a mapping {name, flight, http}");
  Config::Cluster::Node node;
  for (const auto& field : entry) {
    ARROW_ASSIGN_OR_RAISE(const auto key, KeyName(field.first, source, at));
    if (!field.second.IsScalar()) return KeyError(source, at + "." + key, "expected a string");
    const std::string value = field.second.Scalar();
    if (key == "name") {
      node.name = value;
    } else if (key == "flight") {
      node.flight = value;
    } else if (key == "http") {
      node.http = value;
    } else {
      return KeyError(source, at + "." + key, "unknown key (known: name, flight, http)");
    }
  }
  if (!IsClusterNodeName(node.name)) {
    return KeyError(source, at + ".name",
                    "must be 1 to 63 of a-z, 0-9, _ and -, got '" + node.name + "'");
  }
  const std::string named = kNodes + std::string(" '") + node.name + "'";
  if (!HasScheme(node.flight, {"grpc://", "grpc+tcp://", "grpc+tls://"})) {
    return KeyError(source, named + ".flight",
                    "must be the node's Flight URL as clients reach it "
                    "(grpc://HOST:PORT or grpc+tls://HOST:PORT), got '" + node.flight + "'");
  }
  if (!HasScheme(node.http, {"http://", "https://"})) {
    return KeyError(source, named + ".http",
                    "must be the node's HTTP URL (http://HOST:PORT or https://HOST:PORT), "
                    "got '" + node.http + "'");
  }
  while (!node.http.empty() && node.http.back() == '/') node.http.pop_back();
  return node;
}

}  // namespace

arrow::Status ParseClusterNodes(const YAML::Node& node, const std::string& source,
                                Config* config) {
  config->cluster.nodes.clear();
  if (node.IsNull()) return arrow::Status::OK();
  if (!node.IsSequence()) {
    return KeyError(source, kNodes, "expected a list of {name, flight, http}");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string at = std::string(kNodes) + "[" + std::to_string(i) + "]";
    ARROW_ASSIGN_OR_RAISE(auto entry, ParseNodeEntry(node[i], source, at));
    if (!names.insert(entry.name).second) {
      return KeyError(source, at + ".name", "names a node given before: keep one");
    }
    config->cluster.nodes.push_back(std::move(entry));
  }
  return arrow::Status::OK();
}

arrow::Status ValidateCluster(const Config& c) {
  const auto error = [&c](const std::string& key, const std::string& reason) {
    return KeyError(c.SourceOf(key), key, reason);
  };
  const auto& cluster = c.cluster;
  if (cluster.nodes.empty()) {
    if (!cluster.self.empty()) {
      return error("cluster.self", "names a node, but cluster.nodes lists none");
    }
    return arrow::Status::OK();
  }
  if (cluster.self.empty()) {
    return error("cluster.self",
                 "a cluster needs the name of this node (cluster.self, or the environment "
                 "ARROWPORT_CLUSTER_SELF when every node shares one file)");
  }
  bool listed = false;
  for (const auto& node : cluster.nodes) listed = listed || node.name == cluster.self;
  if (!listed) {
    return error("cluster.self", "'" + cluster.self + "' is not one of cluster.nodes' names");
  }
  if (cluster.secret_file.empty()) {
    return error("cluster.secret_file",
                 "a cluster needs a secret its nodes share (a private file of at least 32 "
                 "random bytes: openssl rand -hex 32 > cluster.key; chmod 600 cluster.key)");
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::config
