#include "arrowport/config/transfer_section.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

#include "arrowport/config/config_keys.h"

namespace arrowport::config {

arrow::Status ParseTransferPeers(const YAML::Node& node, const std::string& source,
                                 Config* config) {
  if (node.IsNull()) return arrow::Status::OK();
  if (!node.IsMap()) return KeyError(source, "transfer.peers", "expected a mapping of host:port");
  for (const auto& kv : node) {
    ARROW_ASSIGN_OR_RAISE(const auto peer, KeyName(kv.first, source, "transfer.peers"));
    const std::string prefix = "transfer.peers." + peer;
    if (peer.find(':') == std::string::npos) return KeyError(source, prefix, "expected host:port");
    if (!kv.second.IsMap()) return KeyError(source, prefix, "expected a mapping");
    Config::Transfer::Peer entry;
    for (const auto& field : kv.second) {
      ARROW_ASSIGN_OR_RAISE(const auto name, KeyName(field.first, source, prefix));
      if (!field.second.IsScalar()) return KeyError(source, prefix + "." + name, "expected a string");
      const std::string value = field.second.Scalar();
      if (name == "user") {
        entry.user = value;
      } else if (name == "password") {
        entry.password = value;
      } else if (name == "token") {
        entry.token = value;
      } else if (name == "tls_ca") {
        entry.tls_ca = value;
      } else {
        return KeyError(source, prefix + "." + name,
                        "unknown key (known: user, password, token, tls_ca)");
      }
    }
    if (!entry.token.empty() && !entry.user.empty()) {
      return KeyError(source, prefix, "give user and password, or token, not both");
    }
    if (!entry.password.empty() && entry.user.empty()) {
      return KeyError(source, prefix, "a password needs a user");
    }
    for (unsigned char c : entry.token) {
      if (c < 0x20 || c > 0x7e) return KeyError(source, prefix + ".token", "must be printable ASCII");
    }
    config->transfer.peers[peer] = entry;
  }
  return arrow::Status::OK();
}

arrow::Status CheckAllowedPeers(const std::vector<std::string>& patterns,
                                const std::string& source, const std::string& path) {
  for (const auto& pattern : patterns) {
    // A space or control character matches no peer ("a:1 b:2" from an environment
    // variable written as a shell list): refused, as a pattern without a port is.
    const bool blank = std::any_of(pattern.begin(), pattern.end(),
                                   [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
    // The port is a number a peer can have, or "*": "host:99999" matched no peer.
    const auto colon = pattern.rfind(':');
    const std::string port = colon == std::string::npos ? "" : pattern.substr(colon + 1);
    const bool digits = !port.empty() && port.size() <= 5 &&
                        std::all_of(port.begin(), port.end(),
                                    [](unsigned char c) { return std::isdigit(c); });
    const bool port_ok =
        port == "*" || (digits && std::stoi(port) >= 1 && std::stoi(port) <= 65535);
    if (blank || !port_ok || pattern.find('/') != std::string::npos) {
      return KeyError(source, path,
                      "'" + pattern + "' is not a host:port pattern (the port 1-65535 or *)");
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::config
