#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace arrowport::flight {

/// gRPC's channelz answers (JSON text), one function per question; tests give canned ones.
struct ChannelzSource {
  std::function<std::string(int64_t start_server_id)> servers;
  std::function<std::string(int64_t server_id, int64_t start_socket_id)> server_sockets;
  std::function<std::string(int64_t socket_id)> socket;
};

/// \brief The connections open to the server (of those `source` lists) that accepts on
/// local port `port`, paging through every answer; nullopt when an answer cannot be read.
/// One socket per server is looked at (its local port tells which server it is).
std::optional<int64_t> CountGrpcConnections(const ChannelzSource& source, int port);

/// CountGrpcConnections over this process's gRPC channelz.
std::optional<int64_t> OpenGrpcConnections(int port);

}  // namespace arrowport::flight
