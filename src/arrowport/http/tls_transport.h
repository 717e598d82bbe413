#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/http/transport.h"

struct ssl_st;  // OpenSSL's SSL

namespace arrowport::http {

class TlsContext;

/// \brief One server-side TLS session over an accepted socket, through OpenSSL on the
/// non-blocking socket: Read and Write report when OpenSSL needs the socket readable or
/// writable (a TLS read may need to write and a write to read), so the stream's deadlines
/// apply to TLS exactly as to plain TCP. Used by the connection's worker thread only.
class TlsTransport : public Transport {
 public:
  /// Makes `fd` non-blocking and runs the server side of the handshake until `deadline`:
  /// a client that connects and never finishes its handshake (or sends garbage) gets an
  /// error here, within the deadline. With a client CA, a client without a valid
  /// certificate fails here too. A client whose first byte cannot start a TLS record
  /// (plain HTTP) gets Status::Invalid with its bytes still unread. Blocks SIGPIPE on the calling thread (OpenSSL
  /// writes with write(2); a client that left must not end the process).
  static arrow::Result<std::unique_ptr<TlsTransport>> Accept(
      const TlsContext& context, int fd, std::chrono::steady_clock::time_point deadline);
  ~TlsTransport() override;

  Io Read(char* data, size_t size) override;
  /// Takes all of `data` or nothing (retried with the same bytes after a wait); the
  /// records go out through a buffer that Flush empties.
  Io Write(const char* data, size_t size) override;
  Io Flush() override;
  /// Shrinks the write buffer back to a few KiB after a large response.
  void Idle() override;
  size_t Pending() const override;
  /// Sends close_notify once when the session is healthy; never waits for the peer's.
  void Close() override;

  /// The negotiated protocol, e.g. "TLSv1.3".
  std::string version() const;
  /// Whether the write buffer is grown to gather a large response's records.
  bool gathering() const { return gathering_; }

 private:
  explicit TlsTransport(ssl_st* ssl);
  /// Maps a failed SSL_* call's result to what the caller waits for (0: failed).
  Io Failed(int result);

  std::unique_ptr<ssl_st, void (*)(ssl_st*)> ssl_;
  bool failed_ = false;  // after a fatal error OpenSSL forbids SSL_shutdown
  bool closed_ = false;
  bool gathering_ = false;  // the write buffer has grown to gather large writes
};

}  // namespace arrowport::http
