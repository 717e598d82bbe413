#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace arrowport::http {

/// \brief The HTTP connections open right now, with what each is doing: admission
/// (http.max_connections, and limits.max_connections_per_address: one client address,
/// its connections still in their TLS handshake included, never holds every slot), and
/// shutdown (idle connections are closed at once, busy ones
/// get the grace period, then their sockets are shut down so blocked reads and writes
/// return). Thread-safe.
class ConnectionRegistry {
 public:
  enum class Phase { kIdle, kActive };
  /// Why Admit refused a connection.
  enum class Refusal { kNone, kBusy, kAddress };

  /// `max_per_address` 0: connections are not counted per address.
  explicit ConnectionRegistry(size_t max_connections, size_t max_per_address = 0)
      : max_(max_connections), max_per_address_(max_per_address) {}

  /// Registers `fd`, a connection from `address` ("": not counted per address); 0 when
  /// the server is stopping or a cap is reached (refuse it; `*refusal` says which).
  uint64_t Admit(int fd, const std::string& address = "", Refusal* refusal = nullptr);
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
  size_t max_per_address() const { return max_per_address_; }
  /// Connections refused because their address held max_per_address already.
  uint64_t refused_per_address() const;

 private:
  struct Entry {
    int fd;
    Phase phase;
    std::string address;
  };
  const size_t max_;
  const size_t max_per_address_;
  mutable std::mutex mutex_;  // guards everything below; sockets are shut down under it,
                              // so a registered fd is never closed and reused meanwhile
  std::condition_variable changed_;
  std::map<uint64_t, Entry> entries_;
  std::unordered_map<std::string, size_t> per_address_;  // open connections by address
  uint64_t refused_per_address_ = 0;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
};

}  // namespace arrowport::http
