#include "arrowport/common/ca_certificates.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <vector>

#include "arrow/status.h"

namespace arrowport {
namespace {

namespace fs = std::filesystem;

// Each distribution's bundle, in the order tried (the first readable one is the store).
constexpr const char* kBundleFiles[] = {
    "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Arch, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",                   // RHEL, Fedora, CentOS, Amazon
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // RHEL 7+, Fedora (the source)
    "/etc/ssl/ca-bundle.pem",                             // openSUSE, SLES
    "/var/lib/ca-certificates/ca-bundle.pem",             // openSUSE, SLES (the source)
    "/etc/ssl/cert.pem",                                  // Alpine, also macOS-like layouts
};
// Directories of one certificate per file (OpenSSL's hashed form), searched only when
// no bundle is found (a bundle is what each distribution keeps complete).
constexpr const char* kCertDirectories[] = {
    "/etc/ssl/certs",                 // Debian, Ubuntu, SUSE, Alpine
    "/etc/pki/tls/certs",             // RHEL, Fedora
    "/var/lib/ca-certificates/pem",   // openSUSE, SLES
};
constexpr const char* kPemCertificate = "-----BEGIN CERTIFICATE-----";
// Far above any real store (Debian's bundle is about 220 KB), far below harm.
constexpr std::uintmax_t kMaxBundleBytes = 64 << 20;
constexpr std::uintmax_t kMaxCertFileBytes = 1 << 20;

bool ReadableFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && ::access(path.c_str(), R_OK) == 0;
}

bool ReadableDirectory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && ::access(path.c_str(), R_OK | X_OK) == 0;
}

std::vector<std::string> SplitDirs(const std::string& list) {
  std::vector<std::string> dirs;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t end = std::min(list.find(':', begin), list.size());
    if (end > begin) dirs.push_back(list.substr(begin, end - begin));
    begin = end + 1;
  }
  return dirs;
}

// A name certificates go under in a CA directory: NAME.pem, NAME.crt, or OpenSSL's hash
// link (8 hex digits, '.', a number).
bool CertificateName(const std::string& name) {
  const auto ends_with = [&name](const char* tail) {
    const std::string t(tail);
    return name.size() > t.size() && name.compare(name.size() - t.size(), t.size(), t) == 0;
  };
  if (ends_with(".pem") || ends_with(".crt")) return true;
  if (name.size() < 10 || name[8] != '.') return false;
  const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  const auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  return std::all_of(name.begin(), name.begin() + 8, hex) &&
         std::all_of(name.begin() + 9, name.end(), digit);
}

// The certificate files of `dir`, in name order (hash links and the files they point to
// both appear; ReadCaPem reads each target once).
std::vector<std::string> CertificateFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (CertificateName(name) && ReadableFile(it->path().string())) {
      files.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool HoldsCertificate(const std::string& dir) {
  return ReadableDirectory(dir) && !CertificateFiles(dir).empty();
}

// The file's text, at most `limit` bytes (more: an error naming the file).
arrow::Result<std::string> ReadAtMost(const std::string& path, std::uintmax_t limit) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return arrow::Status::IOError("CA certificates '", path, "': ", ec.message());
  if (size > limit) {
    return arrow::Status::IOError("CA certificates '", path, "': ", size,
                                  " bytes, more than a CA store holds");
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) return arrow::Status::IOError("CA certificates '", path, "': unreadable");
  return text;
}

arrow::Result<CaStore> FromOverrides(const CaOverrides& overrides) {
  CaStore store;
  store.from_environment = true;
  if (!overrides.cert_file.empty()) {
    if (!ReadableFile(overrides.cert_file)) {
      return arrow::Status::IOError(
          "SSL_CERT_FILE='", overrides.cert_file, "' names no readable file: point it at a "
          "PEM file of the CA certificates to trust, or unset it to use the system's");
    }
    store.file = overrides.cert_file;
  }
  if (!overrides.cert_dir.empty()) {
    for (const auto& dir : SplitDirs(overrides.cert_dir)) {
      if (!ReadableDirectory(dir)) {
        return arrow::Status::IOError(
            "SSL_CERT_DIR='", overrides.cert_dir, "': '", dir, "' is no readable directory: "
            "point it at a directory of CA certificates, or unset it to use the system's");
      }
    }
    store.dir = overrides.cert_dir;
  }
  return store;
}

}  // namespace

CaOverrides CaOverrides::FromEnvironment() {
  CaOverrides overrides;
  if (const char* file = std::getenv("SSL_CERT_FILE")) overrides.cert_file = file;
  if (const char* dir = std::getenv("SSL_CERT_DIR")) overrides.cert_dir = dir;
  return overrides;
}

std::string CaStore::Describe() const {
  std::string text;
  if (!file.empty()) text = from_environment ? "SSL_CERT_FILE=" + file : file;
  if (!dir.empty()) {
    if (!text.empty()) text += " and ";
    text += from_environment ? "SSL_CERT_DIR=" + dir : dir;
  }
  return text;
}

arrow::Result<CaStore> FindCaStore(const CaOverrides& overrides, const std::string& root) {
  if (!overrides.cert_file.empty() || !overrides.cert_dir.empty()) {
    return FromOverrides(overrides);
  }
  CaStore store;
  std::string tried;
  for (const char* file : kBundleFiles) {
    const std::string path = root + file;
    if (ReadableFile(path)) {
      store.file = path;
      break;
    }
    tried += (tried.empty() ? "" : ", ") + path;
  }
  if (!store.file.empty()) return store;
  for (const char* dir : kCertDirectories) {
    const std::string path = root + dir;
    if (HoldsCertificate(path)) {
      store.dir = path;
      break;
    }
    tried += ", " + path + "/";
  }
  if (store.dir.empty()) {
    return arrow::Status::IOError(
        "no CA certificates found on this host (tried ", tried,
        "; SSL_CERT_FILE and SSL_CERT_DIR are unset): install the system's CA certificates "
        "(the ca-certificates package), or set SSL_CERT_FILE to a PEM file of the CAs to "
        "trust");
  }
  return store;
}

arrow::Result<CaStore> FindHostCaStore() {
  return FindCaStore(CaOverrides::FromEnvironment());
}

arrow::Result<std::string> ReadCaPem(const CaStore& store) {
  std::string pem;
  if (!store.file.empty()) {
    ARROW_ASSIGN_OR_RAISE(pem, ReadAtMost(store.file, kMaxBundleBytes));
  } else {
    std::set<fs::path> seen;  // a hash link and the file it names are one certificate
    for (const auto& dir : SplitDirs(store.dir)) {
      for (const auto& path : CertificateFiles(dir)) {
        std::error_code ec;
        const fs::path target = fs::canonical(path, ec);
        if (ec || !seen.insert(target).second) continue;
        auto text = ReadAtMost(path, kMaxCertFileBytes);
        if (!text.ok() || text->find(kPemCertificate) == std::string::npos) continue;
        if (pem.size() + text->size() > kMaxBundleBytes) break;
        pem += *text;
        if (pem.back() != '\n') pem += '\n';
      }
    }
  }
  if (pem.find(kPemCertificate) == std::string::npos) {
    return arrow::Status::IOError("the CA store ", store.Describe(),
                                  " holds no PEM certificate");
  }
  return pem;
}

}  // namespace arrowport
