#pragma once

#include <cstdint>

namespace arrowport::metrics {

class Registry;

/// What the kernel says about this process (Linux /proc), as Prometheus clients export it.
struct ProcessStats {
  int64_t resident_bytes = 0;
  int64_t virtual_bytes = 0;
  int64_t threads = 0;
  int64_t open_fds = 0;
  int64_t max_fds = 0;           ///< RLIMIT_NOFILE's soft limit
  double cpu_seconds = 0;        ///< user + system
  double start_time_seconds = 0;  ///< since the Unix epoch
};

/// Reads /proc/self; figures that cannot be read stay 0.
ProcessStats ReadProcessStats();

/// \brief Registers the standard process_* families (resident and virtual memory, CPU
/// seconds, threads, open and maximum descriptors, start time), read at each scrape.
void AddProcessMetrics(Registry* registry);

}  // namespace arrowport::metrics
