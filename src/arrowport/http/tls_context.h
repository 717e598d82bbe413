#pragma once

#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrowport/config/config.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX; OpenSSL headers stay out of this header

namespace arrowport::http {

/// \brief The server's TLS configuration (tls.cert, tls.key, tls.client_ca), loaded and
/// checked once at start: one OpenSSL SSL_CTX for HTTPS (TLS 1.2 and newer, no
/// renegotiation, no compression; with a client CA, clients must present a certificate
/// it signed), and the PEM text Flight hands to gRPC. Every problem (unreadable file, no
/// PEM certificate, encrypted or mismatched key, empty CA file, a key file every user may
/// read) is an error naming the key and file. Immutable after Make; thread-safe to share.
class TlsContext {
 public:
  static arrow::Result<std::unique_ptr<TlsContext>> Make(const config::Config::Tls& files);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* native() const { return ctx_.get(); }
  /// True with tls.client_ca: clients without a certificate signed by it are refused.
  bool requires_client_certificate() const { return !client_ca_pem_.empty(); }
  const std::string& cert_pem() const { return cert_pem_; }
  const std::string& key_pem() const { return key_pem_; }
  const std::string& client_ca_pem() const { return client_ca_pem_; }
  /// When the server certificate (the first in tls.cert) expires, e.g.
  /// "Nov 22 14:00:00 2027 GMT"; and whether that is past (clients will refuse it).
  const std::string& certificate_expiry() const { return expiry_; }
  bool certificate_expired() const { return expired_; }
  /// Why the key file may be read by more than the server (its group, users an ACL
  /// names), for the log; empty when only its owner may. (Every user: Make refuses it.)
  const std::string& key_warning() const { return key_warning_; }

 private:
  TlsContext();
  arrow::Status LoadCertificateChain(const std::string& path);
  arrow::Status LoadPrivateKey(const std::string& path);
  arrow::Status LoadClientCa(const std::string& path);

  std::unique_ptr<ssl_ctx_st, void (*)(ssl_ctx_st*)> ctx_;
  std::string cert_pem_;
  std::string key_pem_;
  std::string client_ca_pem_;
  std::string expiry_;
  bool expired_ = false;
  std::string key_warning_;
};

}  // namespace arrowport::http
