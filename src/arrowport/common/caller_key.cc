#include "arrowport/common/caller_key.h"

namespace arrowport {

namespace {

std::string_view PeerHost(std::string_view peer) {
  for (std::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (peer.substr(0, scheme.size()) == scheme) {
      peer.remove_prefix(scheme.size());
      // gRPC always appends the port: "[v6]:port" or "v4:port".
      if (!peer.empty() && peer.front() == '[') {
        const auto close = peer.find(']');
        return close == std::string_view::npos ? peer.substr(1) : peer.substr(1, close - 1);
      }
      const auto colon = peer.rfind(':');
      return colon == std::string_view::npos ? peer : peer.substr(0, colon);
    }
  }
  return peer;  // already bare, or a form we do not know (unix:...): taken whole
}

}  // namespace

std::string CallerKey(const Principal* principal, std::string_view peer) {
  if (principal != nullptr && !principal->anonymous && !principal->user.empty()) {
    return "user:" + principal->user;
  }
  return "ip:" + std::string(PeerHost(peer));
}

}  // namespace arrowport
