#pragma once

#include <string>

struct sockaddr;

namespace arrowport {

/// \brief The IP address a connection is counted under, as text ("10.0.0.7",
/// "2001:db8::1"): an IPv4 address mapped into IPv6 ("::ffff:10.0.0.7", what a dual-stack
/// listener reports) is written as IPv4, so one client is one address whichever socket
/// family it reached. "" for other families (Unix sockets) or a short `length`.
std::string PeerIp(const sockaddr* address, unsigned length);

/// PeerIp of the peer of connected socket `fd`; "" when it has none.
std::string PeerIpOf(int fd);

}  // namespace arrowport
