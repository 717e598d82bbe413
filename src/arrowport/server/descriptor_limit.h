#pragma once

#include <cstdint>

namespace arrowport::server {

/// What the process may keep open, and where connections stop being accepted.
struct DescriptorLimit {
  int64_t limit = 0;    ///< RLIMIT_NOFILE's soft limit in force (raised to the hard one)
  int64_t ceiling = 0;  ///< a connection accepted at or above this descriptor is closed
};

/// \brief Raises the soft RLIMIT_NOFILE to the hard limit, and keeps `reserved`
/// descriptors below it for DuckDB (database, WAL, spill files, views) and the server's
/// own files: from then on a connection accepted on a descriptor at or above the ceiling
/// (gRPC's listener and the HTTP server alike; accept4 returns the lowest free
/// descriptor, so the descriptor number is how many are open) is closed at once and the
/// client sees the connection refused. Call once at start, before listening.
DescriptorLimit ReserveDescriptors(int64_t reserved);

/// Connections closed at the ceiling since the process started.
int64_t RefusedConnections();

}  // namespace arrowport::server
