#include "arrowport/flight/grpc_connections.h"

#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

namespace arrowport::flight {

namespace {

using json = nlohmann::json;

// channelz writes int64 ids as strings (proto3's JSON form) and int32 ports as numbers.
int64_t Number(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_string()) return std::stoll(value.get<std::string>());
  throw std::invalid_argument("channelz: not a number: " + value.dump());
}

// A field under either spelling gRPC has used for it ("socketRef" and "socket_ref").
const json* Field(const json& object, const char* camel, const char* snake) {
  if (!object.is_object()) return nullptr;
  if (auto it = object.find(camel); it != object.end()) return &*it;
  if (auto it = object.find(snake); it != object.end()) return &*it;
  return nullptr;
}

// A page ends the listing when it says so ("end": true) or lists nothing: gRPC leaves
// "end" out of every page but the last.
bool LastPage(const json& page, const json* items) {
  const json* end = Field(page, "end", "end");
  return items == nullptr || items->empty() || (end != nullptr && end->is_boolean() &&
                                                end->get<bool>());
}

// Every id a paged listing names: `fetch(start)` answers one page of `key`s.
std::vector<int64_t> ListAll(const std::function<std::string(int64_t)>& fetch,
                             const char* key, const char* snake_key, const char* id,
                             const char* snake_id, const char* ref, const char* snake_ref) {
  std::vector<int64_t> ids;
  int64_t start = 0;
  while (true) {
    const json page = json::parse(fetch(start), nullptr, /*allow_exceptions=*/false);
    const json* items = Field(page, key, snake_key);
    if (items != nullptr && !items->is_array()) items = nullptr;
    const int64_t asked_from = start;
    for (const auto& item : items ? *items : json::array()) {
      // Servers carry their id under "ref"; socket references are the ref themselves.
      const json* holder = ref ? Field(item, ref, snake_ref) : &item;
      const json* value = holder ? Field(*holder, id, snake_id) : nullptr;
      if (value == nullptr) continue;
      const int64_t next = Number(*value);
      if (next < asked_from) continue;  // not of this page: never counted twice
      ids.push_back(next);
      start = std::max(start, next + 1);
    }
    // The last page, or one that named nothing new (which asking again would repeat).
    if (LastPage(page, items) || start == asked_from) break;
  }
  return ids;
}

int64_t LocalPort(const ChannelzSource& source, int64_t socket_id) {
  const json answer = json::parse(source.socket(socket_id), nullptr, false);
  const json* socket = Field(answer, "socket", "socket");
  const json* local = socket ? Field(*socket, "local", "local") : nullptr;
  const json* address = local ? Field(*local, "tcpipAddress", "tcpip_address") : nullptr;
  const json* port = address ? Field(*address, "port", "port") : nullptr;
  return port ? Number(*port) : -1;
}

std::string Owned(char* text) {
  if (text == nullptr) return "";
  std::unique_ptr<char, void (*)(void*)> owned(text, gpr_free);
  return owned.get();
}

}  // namespace

std::optional<int64_t> CountGrpcConnections(const ChannelzSource& source, int port) {
  try {
    int64_t count = 0;
    for (const int64_t server : ListAll(source.servers, "server", "server", "serverId",
                                        "server_id", "ref", "ref")) {
      const auto sockets = ListAll(
          [&](int64_t start) { return source.server_sockets(server, start); }, "socketRef",
          "socket_ref", "socketId", "socket_id", nullptr, nullptr);
      // A server's connections all share its listening port: one of them names the server.
      if (!sockets.empty() && LocalPort(source, sockets.front()) == port) {
        count += static_cast<int64_t>(sockets.size());
      }
    }
    return count;
  } catch (const std::exception&) {
    return std::nullopt;  // an answer of an unexpected shape: unknown, not fatal
  }
}

std::optional<int64_t> OpenGrpcConnections(int port) {
  const ChannelzSource channelz{
      [](int64_t start) { return Owned(grpc_channelz_get_servers(start)); },
      [](int64_t server, int64_t start) {
        return Owned(grpc_channelz_get_server_sockets(server, start, 1000));
      },
      [](int64_t socket) { return Owned(grpc_channelz_get_socket(socket)); }};
  return CountGrpcConnections(channelz, port);
}

}  // namespace arrowport::flight
