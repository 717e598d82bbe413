#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

namespace arrowport::http {

/// \brief The HTTP connections open right now, with what each is doing: admission
/// (http.max_connections), and shutdown (idle connections are closed at once, busy ones
/// get the grace period, then their sockets are shut down so blocked reads and writes
/// return). Thread-safe.
class ConnectionRegistry {
 public:
  enum class Phase { kIdle, kActive };

  explicit ConnectionRegistry(size_t max_connections) : max_(max_connections) {}

  /// Registers `fd`; 0 when the cap is reached or the server is stopping (refuse it).
  uint64_t Admit(int fd);
  /// Forgets a connection; call before closing its socket.
  void Remove(uint64_t id);
  /// Marks a connection idle (between requests) or active (serving one). False when the
  /// server is stopping: the connection must close instead of taking another request.
  bool SetPhase(uint64_t id, Phase phase);

  /// Stops admitting and shuts down every idle connection's socket.
  void BeginStop();
  /// Waits until every connection has closed or `deadline` passed; true if all closed.
  bool WaitUntilEmpty(std::chrono::system_clock::time_point deadline);
  /// Shuts down (SHUT_RDWR) every socket still registered.
  void ShutdownAll();

  bool stopping() const;
  size_t size() const;

 private:
  struct Entry {
    int fd;
    Phase phase;
  };
  const size_t max_;
  mutable std::mutex mutex_;  // guards everything below; sockets are shut down under it,
                              // so a registered fd is never closed and reused meanwhile
  std::condition_variable changed_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
};

}  // namespace arrowport::http
