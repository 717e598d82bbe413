#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace arrowport {
class Logger;
namespace flight {
class ClusterView;
}
}  // namespace arrowport

namespace arrowport::server {

/// \brief Asks every other node of the cluster for its /readyz, every `interval_ms`, and
/// tells `cluster` which answer (200) and which do not (two misses in a row): GetFlightInfo
/// spreads a lake table's endpoints over the ones that do. A node that comes or goes is
/// logged once. An https node is checked against the host's CA store (SSL_CERT_FILE /
/// SSL_CERT_DIR first), with no client certificate.
/// Runs a thread of its own from Start() until Stop() (or destruction).
class ClusterHealth {
 public:
  ClusterHealth(flight::ClusterView* cluster, int64_t interval_ms, Logger* logger);
  ~ClusterHealth();
  ClusterHealth(const ClusterHealth&) = delete;
  ClusterHealth& operator=(const ClusterHealth&) = delete;

  void Start();
  /// Ends the thread; a poll under way ends within its timeout.
  void Stop();

 private:
  void Run();
  // One round: each other node asked once.
  void PollOnce(std::vector<int>& last);

  flight::ClusterView* const cluster_;
  const int64_t interval_ms_;
  Logger* const logger_;
  std::vector<int> misses_;  // answers missed in a row, by node (the thread's own)
  std::mutex mutex_;  // guards stop_
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace arrowport::server
