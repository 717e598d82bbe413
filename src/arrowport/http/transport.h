#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>

namespace arrowport::http {

/// \brief How a DeadlineSocketStream moves bytes over its socket: PlainTransport (recv and
/// send) or TlsTransport (OpenSSL). Calls never block; the stream waits for the socket
/// (with its deadlines) when a call asks it to. Used by one thread at a time.
class Transport {
 public:
  /// The outcome of one Read or Write.
  struct Io {
    ssize_t bytes = 0;  ///< > 0: bytes moved; 0 from Read: the peer closed; < 0: see wait
    short wait = 0;     ///< with bytes < 0: poll the socket for these events and retry the
                        ///< same call; 0: the connection failed
  };

  virtual ~Transport() = default;
  virtual Io Read(char* data, size_t size) = 0;
  virtual Io Write(const char* data, size_t size) = 0;
  /// Sends what Write accepted but held back (TLS gathers records into large sends).
  /// {0, 0}: nothing is left; bytes < 0 with wait: poll for it and call again; wait 0:
  /// the connection failed.
  virtual Io Flush() { return {0, 0}; }
  /// The connection waits for its next request: gives back what a large response grew.
  virtual void Idle() {}
  /// Bytes received and ready to read without touching the socket.
  virtual size_t Pending() const { return 0; }
  /// Ends the session in order before the socket is shut down (TLS close_notify). Best
  /// effort, never blocks.
  virtual void Close() {}
};

/// Polls `fd` for `events` until `deadline`; true when ready (or when an error is pending
/// that the next call reports). Retries on EINTR.
bool PollSocket(int fd, short events, std::chrono::steady_clock::time_point deadline);

}  // namespace arrowport::http
