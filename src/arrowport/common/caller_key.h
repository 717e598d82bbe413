#pragma once

#include <string>
#include <string_view>

#include "arrowport/common/principal.h"

namespace arrowport {

/// \brief Whom the per-user limits (limits.*_per_user) count a call against: the user
/// name of an authenticated principal ("user:alice"), otherwise the client's IP address
/// without its port ("ip:127.0.0.1"), so that with authentication off every client
/// machine gets its own share. `peer` is what the protocol knows of the client: gRPC's
/// "ipv4:1.2.3.4:5678" / "ipv6:[::1]:5678", or a bare address ("1.2.3.4", "::1").
std::string CallerKey(const Principal* principal, std::string_view peer);

}  // namespace arrowport
