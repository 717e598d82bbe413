#pragma once

#include <cstdint>
#include <optional>

namespace arrowport::flight {

/// \brief Connections open now to this process's gRPC servers on local port `port`, as
/// gRPC's channelz sees them; nullopt when channelz answers nothing usable.
std::optional<int64_t> OpenGrpcConnections(int port);

}  // namespace arrowport::flight
