#include "arrowport/http/tls_transport.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>

#include "arrowport/http/openssl_handle.h"
#include "arrowport/http/tls_context.h"

namespace arrowport::http {

namespace {

constexpr unsigned char kHandshakeRecord = 22;
// Encrypted records are gathered into sends of up to this size once a write is large:
// one send per 16 KiB record took 25,000 system calls (and as many small TCP segments
// for the client to take) per 400 MB result.
constexpr int kGatheredSendBytes = 256 << 10;
// Writes from this size on grow the gathering buffer to kGatheredSendBytes; until then,
// and again while the connection waits for its next request, a few KiB (OpenSSL keeps a
// buffer of its default 4 KiB or less as it is: a resize must ask for more).
constexpr size_t kLargeWriteBytes = 64 << 10;
constexpr int kIdleSendBytes = 8 << 10;

void BlockSigpipe() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

}  // namespace

TlsTransport::TlsTransport(ssl_st* ssl) : ssl_(ssl, SSL_free) {}

TlsTransport::~TlsTransport() = default;

arrow::Result<std::unique_ptr<TlsTransport>> TlsTransport::Accept(
    const TlsContext& context, int fd, std::chrono::steady_clock::time_point deadline) {
  BlockSigpipe();
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return arrow::Status::IOError("cannot make the socket non-blocking");
  }
  // Every TLS connection opens with a handshake record (content type 22). Anything else,
  // typically a plain HTTP request, is refused before OpenSSL consumes it, so the caller
  // can still answer it in plain text.
  if (!PollSocket(fd, POLLIN, deadline)) {
    return arrow::Status::IOError("TLS handshake timed out (http.header_timeout_s)");
  }
  unsigned char first = 0;
  const ssize_t peeked = ::recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
  if (peeked == 0) return arrow::Status::IOError("the client closed before its TLS handshake");
  if (peeked == 1 && first != kHandshakeRecord) {
    return arrow::Status::Invalid("not a TLS handshake (plain HTTP on the HTTPS port?)");
  }
  ERR_clear_error();
  SSL* ssl = SSL_new(context.native());
  if (ssl == nullptr) {
    return arrow::Status::OutOfMemory("cannot create a TLS session: ", TakeOpenSslErrors());
  }
  std::unique_ptr<TlsTransport> transport(new TlsTransport(ssl));
  // Records are read straight from the socket and written through a buffer that Flush
  // empties: the session owns both BIOs from here on.
  BIO* reading = BIO_new_socket(fd, BIO_NOCLOSE);
  BIO* writing = BIO_new(BIO_f_buffer());
  BIO* socket_writing = BIO_new_socket(fd, BIO_NOCLOSE);
  if (reading == nullptr || writing == nullptr || socket_writing == nullptr) {
    BIO_free(reading);
    BIO_free(writing);
    BIO_free(socket_writing);
    return arrow::Status::OutOfMemory("cannot attach TLS to the socket: ",
                                      TakeOpenSslErrors());
  }
  SSL_set_bio(ssl, reading, BIO_push(writing, socket_writing));
  SSL_set_accept_state(ssl);
  for (;;) {
    ERR_clear_error();
    const int result = SSL_do_handshake(ssl);
    if (result == 1) return transport;
    const Io io = transport->Failed(result);
    if (io.wait == 0) {
      const std::string errors = TakeOpenSslErrors();
      return arrow::Status::IOError("TLS handshake failed",
                                    errors.empty() ? "" : ": " + errors);
    }
    if (!PollSocket(fd, io.wait, deadline)) {
      transport->failed_ = true;  // no close_notify to a client that never finished
      return arrow::Status::IOError("TLS handshake timed out (http.header_timeout_s)");
    }
  }
}

Transport::Io TlsTransport::Failed(int result) {
  switch (SSL_get_error(ssl_.get(), result)) {
    case SSL_ERROR_WANT_READ:
      return {-1, POLLIN};
    case SSL_ERROR_WANT_WRITE:
      return {-1, POLLOUT};
    case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify: an orderly end
      return {0, 0};
    default:  // SSL_ERROR_SYSCALL, SSL_ERROR_SSL: the session is unusable
      failed_ = true;
      ERR_clear_error();
      return {-1, 0};
  }
}

Transport::Io TlsTransport::Read(char* data, size_t size) {
  if (failed_) return {-1, 0};
  ERR_clear_error();
  const int n = SSL_read(ssl_.get(), data, static_cast<int>(std::min<size_t>(size, INT_MAX)));
  if (n > 0) return {n, 0};
  return Failed(n);
}

Transport::Io TlsTransport::Write(const char* data, size_t size) {
  if (failed_) return {-1, 0};
  if (size == 0) return {0, 0};
  BIO* writing = SSL_get_wbio(ssl_.get());
  // Resizing drops what the buffer holds: only while it is empty (it is between writes).
  if (!gathering_ && size >= kLargeWriteBytes && BIO_wpending(writing) == 0 &&
      BIO_set_write_buffer_size(writing, kGatheredSendBytes) == 1) {
    gathering_ = true;
  }
  ERR_clear_error();
  const int n = SSL_write(ssl_.get(), data, static_cast<int>(std::min<size_t>(size, INT_MAX)));
  if (n > 0) return {n, 0};
  const Io io = Failed(n);
  return io.bytes == 0 ? Io{-1, 0} : io;  // the peer closed: this write failed
}

Transport::Io TlsTransport::Flush() {
  if (failed_) return {-1, 0};
  ERR_clear_error();
  BIO* writing = SSL_get_wbio(ssl_.get());
  if (BIO_flush(writing) > 0) return {0, 0};
  if (BIO_should_retry(writing)) return {-1, POLLOUT};
  failed_ = true;
  ERR_clear_error();
  return {-1, 0};
}

void TlsTransport::Idle() {
  if (!gathering_ || failed_) return;
  BIO* writing = SSL_get_wbio(ssl_.get());
  // Resizing drops what the buffer holds: it is empty between requests, checked anyway.
  if (BIO_wpending(writing) == 0 && BIO_set_write_buffer_size(writing, kIdleSendBytes) == 1) {
    gathering_ = false;
  }
}

size_t TlsTransport::Pending() const {
  return static_cast<size_t>(std::max(SSL_pending(ssl_.get()), 0));
}

void TlsTransport::Close() {
  if (closed_ || failed_) return;
  closed_ = true;
  ERR_clear_error();
  (void)SSL_shutdown(ssl_.get());
  (void)BIO_flush(SSL_get_wbio(ssl_.get()));  // the close_notify, if the socket takes it
  ERR_clear_error();
}

std::string TlsTransport::version() const { return SSL_get_version(ssl_.get()); }

}  // namespace arrowport::http
