#include "arrowport/flight/transfer.h"

#include <arrow/flight/client.h>
#include <fnmatch.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "arrow/record_batch.h"
#include "arrow/util/uri.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/transfer_peer.h"

namespace arrowport::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

void TransferPolicy::Update(config::Config::Transfer settings) {
  std::lock_guard<std::mutex> lock(mutex_);
  settings_ = std::move(settings);
}

arrow::Status TransferPolicy::CheckPeer(const std::string& host_port) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& pattern : settings_.allowed_peers) {
    if (::fnmatch(pattern.c_str(), host_port.c_str(), FNM_CASEFOLD) == 0) {
      return arrow::Status::OK();
    }
  }
  return PermissionDenied("'", host_port, "' is not in transfer.allowed_peers (",
                          settings_.allowed_peers.empty() ? "empty: no peer is allowed"
                                                          : "no pattern matches",
                          "): this server opens connections only to the peers listed there");
}

config::Config::Transfer::Peer TransferPolicy::CredentialsFor(const std::string& host_port) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = settings_.peers.find(host_port);
  return it == settings_.peers.end() ? config::Config::Transfer::Peer{} : it->second;
}

arrow::Result<PeerAddress> ParsePeerAddress(const std::string& url) {
  arrow::util::Uri uri;
  if (!uri.Parse(url).ok()) {
    return arrow::Status::Invalid("'", url, "' is not a URL (expected grpc://host:port or "
                                  "grpc+tls://host:port)");
  }
  const std::string scheme = uri.scheme();
  if (scheme != "grpc" && scheme != "grpc+tcp" && scheme != "grpc+tls") {
    return arrow::Status::Invalid("peer URL scheme must be grpc, grpc+tcp or grpc+tls, got '",
                                  scheme, "'");
  }
  if (uri.host().empty() || uri.port() <= 0) {
    return arrow::Status::Invalid("peer URL '", url, "' needs a host and a port");
  }
  PeerAddress address;
  address.url = url;
  address.tls = scheme == "grpc+tls";
  address.host_port = uri.host() + ":" + std::to_string(uri.port());
  return address;
}

arrow::Result<PeerCredentials> CredentialsFromJson(const json& doc) {
  PeerCredentials out;
  for (const char* key : {"user", "password", "token", "tls_ca"}) {
    auto it = doc.find(key);
    if (it == doc.end()) continue;
    if (!it->is_string()) return arrow::Status::Invalid("'", key, "' must be a string");
    std::string value = it->get<std::string>();
    if (std::string(key) == "user") out.user = value;
    if (std::string(key) == "password") out.password = value;
    if (std::string(key) == "token") out.token = value;
    if (std::string(key) == "tls_ca") out.tls_ca = value;
  }
  if (!out.token.empty() && !out.user.empty()) {
    return arrow::Status::Invalid("give user and password, or token, not both");
  }
  return out;
}

arrow::Result<PeerConnection> ConnectPeer(const TransferPolicy& policy,
                                          const PeerAddress& address,
                                          PeerCredentials credentials) {
  ARROW_RETURN_NOT_OK(policy.CheckPeer(address.host_port));
  // The action's credentials win; the configured ones fill what it leaves out.
  const auto configured = policy.CredentialsFor(address.host_port);
  if (credentials.user.empty() && credentials.token.empty()) {
    credentials.user = configured.user;
    credentials.password = configured.password;
    credentials.token = configured.token;
  }
  if (credentials.tls_ca.empty()) credentials.tls_ca = configured.tls_ca;
  if (!credentials.tls_ca.empty() && !address.tls) {
    return arrow::Status::Invalid("tls_ca is given but the peer URL is not grpc+tls://");
  }
  auto options = fl::FlightClientOptions::Defaults();
  if (!credentials.tls_ca.empty()) {
    std::ifstream file(credentials.tls_ca, std::ios::binary);
    std::stringstream pem;
    pem << file.rdbuf();
    if (!file || pem.str().empty()) {
      return arrow::Status::Invalid("cannot read the peer's tls_ca file '", credentials.tls_ca,
                                    "'");
    }
    options.tls_root_certs = pem.str();
  }
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(address.url));
  PeerConnection peer;
  peer.address = address;
  ARROW_ASSIGN_OR_RAISE(peer.client, fl::FlightClient::Connect(location, options));
  if (!credentials.token.empty()) {
    peer.options.headers.emplace_back("authorization", "Bearer " + credentials.token);
  } else if (!credentials.user.empty()) {
    peer.options.timeout = fl::TimeoutDuration{30.0};
    auto bearer = peer.client->AuthenticateBasicToken(peer.options, credentials.user,
                                                      credentials.password);
    peer.options.timeout = fl::TimeoutDuration{-1.0};
    // Never the credentials in a message: the peer's own reason only.
    if (!bearer.ok()) {
      return bearer.status().WithMessage("signing in to ", address.host_port, " as '",
                                         credentials.user, "' failed: ",
                                         bearer.status().message());
    }
    // A peer without authentication answers with no token: nothing to present then (an
    // empty header name is a gRPC API misuse that aborts the process).
    if (!bearer->first.empty() && !bearer->second.empty()) {
      peer.options.headers.push_back(*bearer);
    }
  }
  return peer;
}

}  // namespace arrowport::flight
