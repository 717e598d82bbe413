#pragma once

// Internal to the transfer actions (transfer.cc, copy_from.cc, copy_to.cc): one outbound
// connection to a peer Flight server.

#include <arrow/flight/client.h>
#include <nlohmann/json.hpp>

#include <initializer_list>
#include <memory>
#include <string>

#include "arrow/result.h"

namespace arrowport {
class CallCancellation;
}  // namespace arrowport

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

/// A signed-in client of a peer; `options` carry its bearer token. `client_options`
/// (TLS roots, message limits) make another channel to it alike (copy_from's streams).
struct PeerConnection {
  PeerAddress address;
  std::unique_ptr<arrow::flight::FlightClient> client;
  arrow::flight::FlightClientOptions client_options;
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

/// \brief The peer's GetFlightInfo, ended early when `cancellation` (may be null) fires.
/// Returns only once Arrow has let go of the call, so that the client may be destroyed
/// at once: FlightClient::Close() stops the thread Arrow disposes of finished calls on,
/// and a call still finishing then is destroyed on gRPC's own thread, which aborts the
/// process (apache/arrow#30949).
arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>> PeerFlightInfo(
    const PeerConnection& peer, const arrow::flight::FlightCallOptions& options,
    const arrow::flight::FlightDescriptor& descriptor,
    const std::shared_ptr<CallCancellation>& cancellation);

/// An action's body: a JSON object, or Invalid naming `action`.
arrow::Result<nlohmann::json> ParseBody(const std::string& body, const char* action);
/// A string field of a body ("" when absent or null); Invalid when not a string.
arrow::Result<std::string> StringOf(const nlohmann::json& doc, const char* key);
/// Invalid, naming the field and the known ones, for a field not in `known`.
arrow::Status OnlyKnownKeys(const nlohmann::json& doc, const char* action,
                            std::initializer_list<const char*> known);
/// "timeout_s": how long the whole transfer may take (absent: -1, no limit).
arrow::Result<arrow::flight::TimeoutDuration> TimeoutOf(const nlohmann::json& doc);
/// `st` prefixed with the action and the peer, without gRPC's debug context.
arrow::Status InContext(const arrow::Status& st, const char* action, const std::string& peer);

}  // namespace arrowport::flight
