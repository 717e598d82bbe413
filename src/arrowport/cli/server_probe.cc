#include "arrowport/cli/server_probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "arrowport/cli/progress.h"
#include "arrowport/common/file_descriptor.h"
#include "arrowport/http/openssl_handle.h"

namespace arrowport::cli {

namespace {

constexpr auto kRetryEvery = std::chrono::milliseconds(200);
// One connection attempt (a host that drops packets instead of refusing).
constexpr int kConnectTimeoutMs = 5000;
// The TLS probe's reads and writes: a server that answers neither way is no mismatch.
constexpr int kProbeIoTimeoutS = 5;

// A socket closed with its owner.
using ProbeSocket = FileDescriptor;

struct ProbeAddrInfoFree {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};
using ProbeAddresses = std::unique_ptr<addrinfo, ProbeAddrInfoFree>;

arrow::Result<ProbeAddresses> Resolve(const ServerEndpoint& endpoint, const std::string& option) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int error = ::getaddrinfo(endpoint.host.c_str(), std::to_string(endpoint.port).c_str(),
                                  &hints, &found);
  if (error != 0) {
    return arrow::Status::IOError("cannot resolve the host '", endpoint.host, "' of ",
                                  endpoint.url, " (", gai_strerror(error), "): pass ", option);
  }
  return ProbeAddresses(found);
}

// A connected socket, or the errno of the attempt (ETIMEDOUT after kConnectTimeoutMs).
struct Connected {
  std::optional<ProbeSocket> socket;
  int error = 0;
};

Connected ConnectOne(const addrinfo& address) {
  ProbeSocket socket(::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                              address.ai_protocol));
  if (socket.get() < 0) return {std::nullopt, errno};
  if (::connect(socket.get(), address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return {std::nullopt, errno};
    pollfd pfd{socket.get(), POLLOUT, 0};
    const int ready = ::poll(&pfd, 1, kConnectTimeoutMs);
    if (ready == 0) return {std::nullopt, ETIMEDOUT};
    if (ready < 0) return {std::nullopt, errno};
    int error = 0;
    socklen_t size = sizeof(error);
    if (::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
    if (error != 0) return {std::nullopt, error};
  }
  // Blocking again, for the TLS probe.
  const int flags = ::fcntl(socket.get(), F_GETFL);
  if (flags >= 0) (void)::fcntl(socket.get(), F_SETFL, flags & ~O_NONBLOCK);
  return {std::move(socket), 0};
}

// The first address that accepts; else the error of the last attempt (ECONNREFUSED
// when every address refused).
Connected ConnectAny(const addrinfo* addresses) {
  Connected last{std::nullopt, ECONNREFUSED};
  bool all_refused = true;
  for (const addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    Connected attempt = ConnectOne(*a);
    if (attempt.socket) return attempt;
    if (attempt.error != ECONNREFUSED) all_refused = false;
    last = std::move(attempt);
  }
  if (all_refused) last.error = ECONNREFUSED;
  return last;
}

std::string SecondsText(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g s", seconds);
  return text;
}

// Records whether the peer sent anything TLS: a handshake message or an alert.
void NotePeerTls(int write_p, int, int content_type, const void*, size_t, SSL*, void* arg) {
  if (write_p == 0 && (content_type == SSL3_RT_HANDSHAKE || content_type == SSL3_RT_ALERT)) {
    *static_cast<bool*>(arg) = true;
  }
}

// What a TLS handshake of our own to a server found.
struct TlsAnswer {
  bool speaks_tls = false;  // it answered a ClientHello in TLS
  // Its certificate checked against the system's CAs (`tls_ca`'s instead when given)
  // and the URL's host: X509_V_OK, or why not (only when the handshake ended).
  long verified = X509_V_OK;
};

// The server at `endpoint` greeted in TLS. The handshake never fails for the
// certificate; its check is only reported.
arrow::Result<TlsAnswer> ProbeTls(const ServerEndpoint& endpoint, const std::string& tls_ca) {
  ARROW_ASSIGN_OR_RAISE(auto addresses, Resolve(endpoint, "--server"));
  Connected connected = ConnectAny(addresses.get());
  if (!connected.socket) {
    return arrow::Status::IOError("cannot connect: ", std::strerror(connected.error));
  }
  const int fd = connected.socket->get();
  timeval timeout{kProbeIoTimeoutS, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  http::SslCtxHandle context(SSL_CTX_new(TLS_client_method()));
  if (!context) return arrow::Status::IOError("OpenSSL: ", http::TakeOpenSslErrors());
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
  // The CAs the clients trust: --tls-ca's instead of the host's.
  CaStore trusted{tls_ca, "", false};
  if (tls_ca.empty()) trusted = HostCasFor(endpoint.url).ValueOr(CaStore{});
  if (!trusted.file.empty() || !trusted.dir.empty()) {
    (void)SSL_CTX_load_verify_locations(context.get(),
                                        trusted.file.empty() ? nullptr : trusted.file.c_str(),
                                        trusted.dir.empty() ? nullptr : trusted.dir.c_str());
  }
  http::SslHandle ssl(SSL_new(context.get()));
  if (!ssl) return arrow::Status::IOError("OpenSSL: ", http::TakeOpenSslErrors());
  // The name checked as gRPC and cpp-httplib check it: an address, or a host name.
  X509_VERIFY_PARAM* check = SSL_get0_param(ssl.get());
  if (X509_VERIFY_PARAM_set1_ip_asc(check, endpoint.host.c_str()) != 1) {
    (void)X509_VERIFY_PARAM_set1_host(check, endpoint.host.c_str(), 0);
  }
  TlsAnswer answer;
  ScopedSigpipeBlock no_sigpipe;
  SSL_set_msg_callback(ssl.get(), NotePeerTls);
  SSL_set_msg_callback_arg(ssl.get(), &answer.speaks_tls);
  SSL_set_fd(ssl.get(), fd);
  (void)SSL_set_tlsext_host_name(ssl.get(), endpoint.host.c_str());
  const bool handshaken = SSL_connect(ssl.get()) == 1;
  (void)http::TakeOpenSslErrors();
  answer.speaks_tls = answer.speaks_tls || handshaken;
  if (handshaken) answer.verified = SSL_get_verify_result(ssl.get());
  return answer;
}

std::string WithScheme(const ServerEndpoint& endpoint, bool tls) {
  const auto colon = endpoint.url.find("://");
  const std::string rest = colon == std::string::npos ? endpoint.url : endpoint.url.substr(colon);
  if (endpoint.http) return (tls ? "https" : "http") + rest;
  return (tls ? "grpc+tls" : "grpc") + rest;
}

}  // namespace

ScopedSigpipeBlock::ScopedSigpipeBlock() {
  sigemptyset(&pipe_);
  sigaddset(&pipe_, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
}

ScopedSigpipeBlock::~ScopedSigpipeBlock() {
  if (!was_pending_) {
    const timespec now{0, 0};
    while (sigtimedwait(&pipe_, nullptr, &now) == SIGPIPE) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

arrow::Result<ServerEndpoint> ParseServerUrl(const std::string& url) {
  ServerEndpoint endpoint;
  endpoint.url = url;
  const auto colon = url.find("://");
  const std::string scheme = colon == std::string::npos ? "" : url.substr(0, colon);
  if (scheme == "grpc" || scheme == "grpc+tcp") {
  } else if (scheme == "grpc+tls") {
    endpoint.tls = true;
  } else if (scheme == "http" || scheme == "https") {
    endpoint.http = true;
    endpoint.tls = scheme == "https";
  } else {
    return arrow::Status::Invalid("server URL '", url,
                                  "': expected grpc://, grpc+tls://, http:// or https://");
  }
  std::string authority = url.substr(colon + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  std::string port;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string::npos) {
      return arrow::Status::Invalid("server URL '", url, "': unclosed '[' in the host");
    }
    endpoint.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else {
    const auto at = authority.rfind(':');
    endpoint.host = authority.substr(0, at);
    if (at != std::string::npos) port = authority.substr(at + 1);
  }
  if (endpoint.host.empty()) {
    return arrow::Status::Invalid("server URL '", url, "': no host");
  }
  if (port.empty()) {
    if (!endpoint.http) {
      return arrow::Status::Invalid("server URL '", url, "': no port (grpc://host:8815)");
    }
    endpoint.port = endpoint.tls ? 443 : 80;
    return endpoint;
  }
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    return arrow::Status::Invalid("server URL '", url, "': '", port, "' is not a port");
  }
  endpoint.port = std::stoi(port);
  return endpoint;
}

arrow::Status WaitForServer(const std::string& url, double wait_s, const std::string& option) {
  auto parsed = ParseServerUrl(url);
  // Whatever is not one of ours is left to the client library to refuse in its words.
  if (!parsed.ok()) return arrow::Status::OK();
  const ServerEndpoint& endpoint = *parsed;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                  std::chrono::duration<double>(std::max(wait_s, 0.0)));
  std::optional<Progress> waiting;
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto addresses, Resolve(endpoint, option));
    Connected connected = ConnectAny(addresses.get());
    if (connected.socket) return arrow::Status::OK();
    if (connected.error != ECONNREFUSED) {
      return arrow::Status::IOError("cannot reach ", url, " (", std::strerror(connected.error),
                                    "): check the address, or pass ", option);
    }
    if (std::chrono::steady_clock::now() + kRetryEvery > deadline) break;
    // A server started a moment ago (`arrowport serve &` and then this command) opens
    // its ports once its database is open.
    if (!waiting) waiting.emplace("waiting for a server at " + url, /*counts=*/false);
    std::this_thread::sleep_for(kRetryEvery);
  }
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return arrow::Status::IOError(
      "no Arrowport server at ", url, " (connection refused",
      waited >= 1 ? ", tried for " + SecondsText(std::round(waited)) : std::string(),
      "): start one with `arrowport serve`, or pass ", option);
}

arrow::Result<CaStore> HostCasFor(const std::string& url) {
  auto store = FindHostCaStore();
  if (store.ok()) return store;
  return arrow::Status::IOError("cannot check the certificate of the server at ", url, ": ",
                                store.status().message(),
                                "; or pass the CA's PEM file with --tls-ca FILE");
}

arrow::Status ExplainTls(const std::string& url, const std::string& tls_ca,
                         const arrow::Status& failed) {
  auto endpoint = ParseServerUrl(url);
  if (!endpoint.ok()) return failed;
  auto answer = ProbeTls(*endpoint, tls_ca);
  if (!answer.ok()) return failed;
  if (answer->speaks_tls != endpoint->tls) {
    if (endpoint->tls) {
      return arrow::Status::IOError("the server at ", url, " does not speak TLS: use ",
                                    WithScheme(*endpoint, false),
                                    " (or turn TLS on at the server: tls.cert and tls.key)");
    }
    return arrow::Status::IOError(
        "the server at ", url, " speaks TLS: use ", WithScheme(*endpoint, true),
        " (with --tls-ca FILE when its certificate is not signed by a CA this system trusts)");
  }
  const long verified = answer->verified;
  if (!endpoint->tls || verified == X509_V_OK) return failed;
  const std::string why = X509_verify_cert_error_string(verified);
  if (verified == X509_V_ERR_HOSTNAME_MISMATCH || verified == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return arrow::Status::IOError("the certificate of the server at ", url, " is not for '",
                                  endpoint->host, "' (", why, "): connect by a name or "
                                  "address its certificate lists");
  }
  if (!tls_ca.empty()) {
    return arrow::Status::IOError("the certificate of the server at ", url,
                                  " is not signed by the CA in --tls-ca '", tls_ca, "' (", why,
                                  "): pass the PEM file of the CA that signed it");
  }
  auto host = FindHostCaStore();
  return arrow::Status::IOError(
      "the certificate of the server at ", url, " is not signed by a CA this system trusts (",
      why, "; the host's CAs: ", host.ok() ? host->Describe() : host.status().message(),
      "): pass the PEM file of the CA that signed it with --tls-ca FILE (or "
      "ARROWPORT_TLS_CA)");
}

}  // namespace arrowport::cli
