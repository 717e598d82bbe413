#pragma once

// Internal to the transfer actions (transfer.cc, transfer_actions.cc): one outbound
// connection to a peer Flight server.

#include <arrow/flight/client.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "arrow/result.h"

namespace arrowport::flight {

class TransferPolicy;

/// A peer URL taken apart: what transfer.allowed_peers patterns are matched against.
struct PeerAddress {
  std::string url;
  std::string host_port;
  bool tls = false;
};

/// What this server presents to a peer. Never logged, never in a message.
struct PeerCredentials {
  std::string user;
  std::string password;
  std::string token;
  std::string tls_ca;  ///< PEM file of CAs to trust
};

/// A signed-in client of a peer; `options` carry its bearer token.
struct PeerConnection {
  PeerAddress address;
  std::unique_ptr<arrow::flight::FlightClient> client;
  arrow::flight::FlightCallOptions options;
};

/// grpc://, grpc+tcp:// or grpc+tls:// with a host and a port; anything else Invalid.
arrow::Result<PeerAddress> ParsePeerAddress(const std::string& url);

/// "user"/"password", "token", "tls_ca" of an action's JSON body.
arrow::Result<PeerCredentials> CredentialsFromJson(const nlohmann::json& doc);

/// \brief Connects to an allowed peer (PermissionDenied naming transfer.allowed_peers
/// otherwise) and signs in: a token as a bearer header, user and password by Basic
/// authentication; the configured transfer.peers entry fills what `credentials` lacks.
/// A peer's messages are limited to `max_message_bytes`.
arrow::Result<PeerConnection> ConnectPeer(const TransferPolicy& policy,
                                          const PeerAddress& address,
                                          PeerCredentials credentials,
                                          int64_t max_message_bytes);

}  // namespace arrowport::flight
