#include "arrowport/http/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "arrowport/config/config_file.h"
#include "arrowport/http/openssl_handle.h"

namespace arrowport::http {

namespace {

using BioHandle = OpenSslHandle<BIO, BIO_free_all>;
using X509Handle = OpenSslHandle<X509, X509_free>;
using KeyHandle = OpenSslHandle<EVP_PKEY, EVP_PKEY_free>;

constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Key files bigger than this are not PEM certificates or keys: refuse instead of reading.
constexpr std::streamsize kMaxPemBytes = 1 << 20;

arrow::Result<std::string> ReadPem(const std::string& key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::IOError(key, " '", path, "': cannot open the file");
  std::string text(static_cast<size_t>(kMaxPemBytes) + 1, '\0');
  in.read(text.data(), kMaxPemBytes + 1);
  if (in.bad()) return arrow::Status::IOError(key, " '", path, "': cannot read the file");
  if (in.gcount() > kMaxPemBytes) {
    return arrow::Status::Invalid(key, " '", path, "': larger than 1 MiB, not a PEM file");
  }
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// The private key's PEM text. As OpenSSH refuses a private key others can read (whoever
// reads it can pose as the server): refused when every user of the machine may read it;
// `warning` set when its group or users an ACL names may.
arrow::Result<std::string> ReadPrivateKey(const std::string& path, std::string* warning) {
  const std::string what = "tls.key '" + path + "'";
  ARROW_ASSIGN_OR_RAISE(auto file, config::ReadFileAndReaders(path, what, kMaxPemBytes));
  const config::FileReaders& readers = file.readers;
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(readers.mode));
  // Written by others is refused too, as the other key files are (config::ReadPrivateSecret).
  const bool written_by_others = (readers.mode & (S_IWGRP | S_IWOTH)) != 0;
  if (readers.everyone || written_by_others) {
    const bool ours = ::geteuid() == 0 || ::geteuid() == readers.owner;
    const std::string chmod = "chmod 600 " + path;
    return arrow::Status::Invalid(
        what, written_by_others && !readers.everyone ? " may be written by other users"
                                                     : " may be read by every user of this machine",
        " (mode ", mode,
        "): refused. Make it readable by its owner only: ",
        ours ? chmod : "chown " + std::to_string(::geteuid()) + " " + path + " && " + chmod,
        " (docs/security.md#security-tls)");
  }
  if (!readers.others.empty()) {
    *warning = what + " may be read by " + readers.others + " (mode " + mode +
               "); if no one else should: chmod 600 " + path;
  }
  return std::move(file.text);
}

BioHandle MemoryBio(const std::string& text) {
  return BioHandle(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Reads every certificate of a PEM text, in order; an error when there is none.
arrow::Result<std::vector<X509Handle>> ReadCertificates(const std::string& key,
                                                        const std::string& path,
                                                        const std::string& pem) {
  auto bio = MemoryBio(pem);
  if (!bio) return arrow::Status::OutOfMemory("cannot allocate an OpenSSL buffer");
  std::vector<X509Handle> certificates;
  for (;;) {
    X509Handle cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    certificates.push_back(std::move(cert));
  }
  // The loop ends with "no start line" at the end of the text: expected, not an error.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM &&
                         ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  std::string errors = TakeOpenSslErrors();
  if (certificates.empty()) {
    return arrow::Status::Invalid(key, " '", path, "': no PEM certificate in the file",
                                  errors.empty() ? "" : " (" + errors + ")");
  }
  if (!clean_end && !errors.empty()) {
    return arrow::Status::Invalid(key, " '", path, "': malformed PEM certificate (", errors,
                                  ")");
  }
  return certificates;
}

// Encrypted keys would make OpenSSL prompt on the terminal; refuse them instead.
int NoPassword(char*, int, int, void*) { return -1; }

}  // namespace

TlsContext::TlsContext() : ctx_(nullptr, SSL_CTX_free) {}
TlsContext::~TlsContext() = default;

arrow::Result<std::unique_ptr<TlsContext>> TlsContext::Make(const config::Config::Tls& files) {
  std::unique_ptr<TlsContext> tls(new TlsContext());
  ERR_clear_error();
  tls->ctx_.reset(SSL_CTX_new(TLS_server_method()));
  if (!tls->ctx_) {
    return arrow::Status::IOError("cannot create a TLS context: ", TakeOpenSslErrors());
  }
  SSL_CTX* ctx = tls->ctx_.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Forward-secret AEAD suites only (Mozilla's "intermediate" list), AES-128-GCM first:
  // as safe as AES-256 here and cheaper per byte on large results.
  if (SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return arrow::Status::IOError("cannot set TLS cipher suites: ", TakeOpenSslErrors());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // A write takes its whole buffer (its records then leave in large sends, see
  // TlsTransport), retried after a wait with the same bytes, possibly from another address.
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_default_passwd_cb(ctx, NoPassword);
  // Needed for session resumption when client certificates are verified.
  static const unsigned char kSessionContext[] = "arrowport";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  ARROW_RETURN_NOT_OK(tls->LoadCertificateChain(files.cert));
  ARROW_RETURN_NOT_OK(tls->LoadPrivateKey(files.key));
  if (!files.client_ca.empty()) ARROW_RETURN_NOT_OK(tls->LoadClientCa(files.client_ca));
  return tls;
}

arrow::Status TlsContext::LoadCertificateChain(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(cert_pem_, ReadPem("tls.cert", path));
  ARROW_ASSIGN_OR_RAISE(auto chain, ReadCertificates("tls.cert", path, cert_pem_));
  SSL_CTX* ctx = ctx_.get();
  if (SSL_CTX_use_certificate(ctx, chain.front().get()) != 1) {
    return arrow::Status::Invalid("tls.cert '", path, "': certificate refused (",
                                  TakeOpenSslErrors(), ")");
  }
  const ASN1_TIME* not_after = X509_get0_notAfter(chain.front().get());
  expired_ = X509_cmp_current_time(not_after) < 0;
  BioHandle text(BIO_new(BIO_s_mem()));
  if (text && ASN1_TIME_print(text.get(), not_after) == 1) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(text.get(), &data);
    expiry_.assign(data, static_cast<size_t>(size));
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    // add1 takes its own reference; ours is freed with `chain`.
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      return arrow::Status::Invalid("tls.cert '", path, "': intermediate certificate ", i,
                                    " refused (", TakeOpenSslErrors(), ")");
    }
  }
  return arrow::Status::OK();
}

arrow::Status TlsContext::LoadPrivateKey(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(key_pem_, ReadPrivateKey(path, &key_warning_));
  auto bio = MemoryBio(key_pem_);
  if (!bio) return arrow::Status::OutOfMemory("cannot allocate an OpenSSL buffer");
  KeyHandle key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (!key) {
    const std::string errors = TakeOpenSslErrors();
    if (key_pem_.find("ENCRYPTED") != std::string::npos) {
      return arrow::Status::Invalid("tls.key '", path,
                                    "': the private key is encrypted; give an unencrypted "
                                    "PEM key (openssl pkey -in KEY -out KEY.plain)");
    }
    return arrow::Status::Invalid("tls.key '", path, "': no PEM private key in the file (",
                                  errors, ")");
  }
  SSL_CTX* ctx = ctx_.get();
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return arrow::Status::Invalid("tls.key '", path,
                                  "': the private key does not match the certificate of "
                                  "tls.cert (", TakeOpenSslErrors(), ")");
  }
  return arrow::Status::OK();
}

arrow::Status TlsContext::LoadClientCa(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(client_ca_pem_, ReadPem("tls.client_ca", path));
  ARROW_ASSIGN_OR_RAISE(auto cas, ReadCertificates("tls.client_ca", path, client_ca_pem_));
  SSL_CTX* ctx = ctx_.get();
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const auto& ca : cas) {
    // Both take their own references.
    if (X509_STORE_add_cert(store, ca.get()) != 1 || SSL_CTX_add_client_CA(ctx, ca.get()) != 1) {
      return arrow::Status::Invalid("tls.client_ca '", path, "': certificate refused (",
                                    TakeOpenSslErrors(), ")");
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return arrow::Status::OK();
}

}  // namespace arrowport::http
