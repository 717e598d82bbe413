#pragma once

#include <signal.h>

#include <chrono>
#include <string>

#include "arrow/result.h"
#include "arrow/status.h"
#include "arrowport/common/ca_certificates.h"

// Reaching a server before and after a client call: the connection a starting server does
// not accept yet, a TLS/plain mismatch and an untrusted certificate, each told in words a
// newcomer can act on.
namespace arrowport::cli {

/// Where a server URL points: grpc://, grpc+tcp://, grpc+tls://, http://, https://.
struct ServerEndpoint {
  std::string url;
  std::string host;  ///< without IPv6 brackets
  int port = 0;
  bool http = false;  ///< http:// or https:// (else Flight)
  bool tls = false;   ///< grpc+tls:// or https://
};

/// \brief SIGPIPE blocked on this thread while it lives, any it raised dropped before the
/// mask is restored: a server that closes a TLS connection while OpenSSL writes to it
/// (OpenSSL writes without MSG_NOSIGNAL) must not end the command without a word. Only
/// around network I/O: standard output to a closed pipe still ends the command.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_, previous_;
  bool was_pending_ = false;
};

/// Parses `url` (a missing port is the scheme's: 80, 443; Flight needs one).
arrow::Result<ServerEndpoint> ParseServerUrl(const std::string& url);

/// How long client commands wait for a server that refuses connections (one that is still
/// starting): `--connect-wait`, ARROWPORT_CONNECT_WAIT.
constexpr double kDefaultConnectWaitSeconds = 10;

/// \brief Connects to `url`'s host and port (TCP only) until the server accepts: a refused
/// connection is tried again every 200 ms for up to `wait` seconds, with a line on a
/// terminal saying so. Errors name `option` ("--server / ARROWPORT_SERVER") and how to
/// start a server. Other URLs than grpc[+tcp|+tls]:// and http[s]:// pass unchecked.
arrow::Status WaitForServer(const std::string& url, double wait_s,
                            const std::string& option = "--server or set ARROWPORT_SERVER");

/// \brief The host's CA store (ca_certificates.h), for a TLS client to `url` given no
/// --tls-ca: an error, naming `url`, the paths tried and --tls-ca, when there is none.
arrow::Result<CaStore> HostCasFor(const std::string& url);

/// \brief `failed`, a call to `url` that failed without an answer from the server
/// (UNAVAILABLE, a failed handshake, a closed socket), said again when TLS is why: the
/// server speaks TLS and the URL does not, or the reverse, or the server's certificate is
/// not signed by a CA this system or `tls_ca` (the --tls-ca file, may be "") trusts, or
/// is not for the URL's host. Found by a TLS handshake of its own to the port; `failed`
/// unchanged when none of these is the cause or the port cannot be reached.
arrow::Status ExplainTls(const std::string& url, const std::string& tls_ca,
                         const arrow::Status& failed);

}  // namespace arrowport::cli
