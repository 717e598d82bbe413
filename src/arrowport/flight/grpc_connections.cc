#include "arrowport/flight/grpc_connections.h"

#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <string>

namespace arrowport::flight {

namespace {

using json = nlohmann::json;

// channelz answers JSON in a string the caller frees with gpr_free.
json Channelz(char* text) {
  if (text == nullptr) return json();
  std::unique_ptr<char, void (*)(void*)> owned(text, gpr_free);
  return json::parse(owned.get(), nullptr, /*allow_exceptions=*/false);
}

// channelz writes int64 ids as strings (proto3's JSON form) and int32 ports as numbers.
int64_t Number(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_string()) return std::stoll(value.get<std::string>());
  return -1;
}

// A field under either spelling gRPC has used for it ("socketRef" and "socket_ref").
const json* Field(const json& object, const char* camel, const char* snake) {
  if (!object.is_object()) return nullptr;
  if (auto it = object.find(camel); it != object.end()) return &*it;
  if (auto it = object.find(snake); it != object.end()) return &*it;
  return nullptr;
}

// The local port of channelz socket `id` (for a server's connection: its listening port).
int64_t LocalPort(int64_t id) {
  const json answer = Channelz(grpc_channelz_get_socket(id));
  const json* socket = Field(answer, "socket", "socket");
  const json* local = socket ? Field(*socket, "local", "local") : nullptr;
  const json* address = local ? Field(*local, "tcpipAddress", "tcpip_address") : nullptr;
  const json* port = address ? Field(*address, "port", "port") : nullptr;
  return port ? Number(*port) : -1;
}

}  // namespace

std::optional<int64_t> OpenGrpcConnections(int port) {
  try {
    const json servers = Channelz(grpc_channelz_get_servers(0));
    const json* list = Field(servers, "server", "server");
    if (list == nullptr || !list->is_array()) return std::nullopt;
    // Every connection accepted by a server of this process whose local port is `port`
    // (a listener bound to port 0 shows port 0 itself; its connections show the real one).
    int64_t count = 0;
    for (const auto& server : *list) {
      const json* ref = Field(server, "ref", "ref");
      const json* id = ref ? Field(*ref, "serverId", "server_id") : nullptr;
      if (id == nullptr) continue;
      int64_t start = 0;
      while (true) {
        const json page = Channelz(grpc_channelz_get_server_sockets(Number(*id), start, 1000));
        const json* sockets = Field(page, "socketRef", "socket_ref");
        if (sockets == nullptr) break;
        for (const auto& socket : *sockets) {
          const json* socket_id = Field(socket, "socketId", "socket_id");
          if (socket_id == nullptr) continue;
          const int64_t sid = Number(*socket_id);
          if (LocalPort(sid) == port) ++count;
          start = std::max(start, sid + 1);
        }
        const json* end = Field(page, "end", "end");
        if (end == nullptr || !end->is_boolean() || end->get<bool>() || sockets->empty()) break;
      }
    }
    return count;
  } catch (const std::exception&) {
    // A channelz answer of an unexpected shape: unknown, not fatal.
  }
  return std::nullopt;
}

}  // namespace arrowport::flight
