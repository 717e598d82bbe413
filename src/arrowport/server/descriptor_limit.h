#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

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

class PeerConnections;

/// \brief While it lives, a connection accepted on the listener bound to local port
/// `port` from an address that already holds `max_per_address` open connections to it
/// is closed at once (in the same accept4 hook as the ceiling; see PeerConnections for
/// how open connections are told from closed ones without seeing the close). For
/// gRPC's listener, whose accept loop offers no per-peer control; the HTTP server
/// counts its own (http/connection_registry.h).
class AddressCap {
 public:
  AddressCap(int port, int64_t max_per_address);
  ~AddressCap();
  AddressCap(const AddressCap&) = delete;
  AddressCap& operator=(const AddressCap&) = delete;

  /// Connections this cap closed.
  int64_t refused() const;

 private:
  const int port_;
  std::shared_ptr<PeerConnections> connections_;
  std::shared_ptr<std::atomic<int64_t>> refused_;
};

}  // namespace arrowport::server
