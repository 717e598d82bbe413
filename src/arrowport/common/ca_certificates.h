#pragma once

#include <string>

#include "arrow/result.h"

// The host's CA certificates, for every TLS client in the process (S3 over libcurl, the
// Flight clients of the CLI and of copy_from/copy_to, the CLI's HTTPS client, libpq's
// sslrootcert=system). The portable build carries its own OpenSSL, libcurl and gRPC with
// Debian's paths compiled in; a RHEL or SUSE host keeps its store elsewhere, so the clients
// are handed the store found here instead of their compiled defaults. A CA the user named
// for one client (s3.ca_file, --tls-ca, a peer's tls_ca) always wins over this store.
namespace arrowport {

/// \brief SSL_CERT_FILE and SSL_CERT_DIR, OpenSSL's own override variables (curl, Python
/// and Go obey them too). Empty: unset. Given as values so that tests need no setenv.
struct CaOverrides {
  std::string cert_file;  ///< a PEM bundle
  std::string cert_dir;   ///< one or more directories, ':'-separated (OpenSSL's form)

  /// The process's SSL_CERT_FILE and SSL_CERT_DIR.
  static CaOverrides FromEnvironment();
};

/// \brief Where the trusted CA certificates are: a PEM bundle, a directory of certificate
/// files (OpenSSL's hashed form), or both.
struct CaStore {
  std::string file;  ///< a PEM bundle; empty: none
  std::string dir;   ///< a directory (or several, ':'-separated); empty: none
  bool from_environment = false;  ///< named by SSL_CERT_FILE / SSL_CERT_DIR

  /// For messages: "/etc/pki/tls/certs/ca-bundle.crt", "SSL_CERT_FILE=/x/ca.pem", ...
  std::string Describe() const;
};

/// \brief Finds the CA store, in this order:
///  1. SSL_CERT_FILE and/or SSL_CERT_DIR when either is set: they alone name the store
///     (nothing else is searched). One that names no readable file (directory) is an
///     error saying so, never a silent fall back to another store.
///  2. the first readable bundle of Debian/Ubuntu (/etc/ssl/certs/ca-certificates.crt),
///     RHEL/Fedora (/etc/pki/tls/certs/ca-bundle.crt,
///     /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem), SUSE (/etc/ssl/ca-bundle.pem,
///     /var/lib/ca-certificates/ca-bundle.pem) and Alpine (/etc/ssl/cert.pem);
///  3. else the first of /etc/ssl/certs, /etc/pki/tls/certs, /var/lib/ca-certificates/pem
///     that holds a certificate file.
/// Found nothing: an IOError naming every path tried and the overrides. `root` prefixes
/// the known paths (tests lay out a distribution under a temporary directory); "" is "/".
/// The overrides are taken as given. Thread-safe (reads the file system only).
arrow::Result<CaStore> FindCaStore(const CaOverrides& overrides, const std::string& root = "");

/// FindCaStore(CaOverrides::FromEnvironment()): what the clients call, when they need
/// TLS and their user named no CA.
arrow::Result<CaStore> FindHostCaStore();

/// \brief The store's certificates as one PEM text, for gRPC (which takes roots only as
/// text): the bundle's, else every certificate file of the directories. An error when
/// nothing in it is a PEM certificate.
arrow::Result<std::string> ReadCaPem(const CaStore& store);

}  // namespace arrowport
