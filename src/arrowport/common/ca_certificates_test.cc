#include "arrowport/common/ca_certificates.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>


namespace arrowport {
namespace ca_certificates_test {

namespace fs = std::filesystem;

constexpr const char* kCert =
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

// The value of a result that must be OK (the test stops with its message if not).
template <typename T>
T Must(arrow::Result<T> result) {
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  if (!result.ok()) throw std::runtime_error(result.status().ToString());
  return std::move(result).ValueOrDie();
}

// A fresh directory standing for a host's "/", removed afterwards.
class CaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ca_store_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  // Writes `text` at `path` (below the root), making its directories.
  std::string Put(const std::string& path, const std::string& text = kCert) {
    const fs::path full = root_ + path;
    fs::create_directories(full.parent_path());
    std::ofstream(full) << text;
    return full.string();
  }

  std::string root_;
};

TEST_F(CaStoreTest, FindsEachDistributionsBundle) {
  struct Layout {
    const char* distribution;
    const char* bundle;
  };
  for (const Layout& layout : {
           Layout{"Debian", "/etc/ssl/certs/ca-certificates.crt"},
           Layout{"RHEL", "/etc/pki/tls/certs/ca-bundle.crt"},
           Layout{"RHEL (extracted)", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"},
           Layout{"SUSE", "/etc/ssl/ca-bundle.pem"},
           Layout{"SUSE (source)", "/var/lib/ca-certificates/ca-bundle.pem"},
           Layout{"Alpine", "/etc/ssl/cert.pem"}}) {
    SCOPED_TRACE(layout.distribution);
    fs::remove_all(root_);
    fs::create_directories(root_);
    const std::string bundle = Put(layout.bundle);
    auto store = Must(FindCaStore({}, root_));
    EXPECT_EQ(store.file, bundle);
    EXPECT_EQ(store.dir, "");
    EXPECT_FALSE(store.from_environment);
    EXPECT_EQ(store.Describe(), bundle);
    auto pem = Must(ReadCaPem(store));
    EXPECT_EQ(pem, kCert);
  }
}

TEST_F(CaStoreTest, TheFirstBundleInOrderWins) {
  // A RHEL host with SUSE's file too, and Debian's directory: RHEL's bundle comes first.
  Put("/etc/ssl/ca-bundle.pem");
  const std::string rhel = Put("/etc/pki/tls/certs/ca-bundle.crt");
  Put("/etc/ssl/certs/0123abcd.0");
  auto store = Must(FindCaStore({}, root_));
  EXPECT_EQ(store.file, rhel);
  EXPECT_EQ(store.dir, "");
}

TEST_F(CaStoreTest, ADirectoryServesWhenNoBundleDoes) {
  // /etc/ssl/certs exists but holds no certificate (openssl installed, ca-certificates
  // not): SUSE's directory of PEM files is the store.
  Put("/etc/ssl/certs/README", "not a certificate\n");
  const std::string first = Put("/var/lib/ca-certificates/pem/first.pem");
  Put("/var/lib/ca-certificates/pem/second.pem",
      "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----");
  fs::create_symlink(first, root_ + "/var/lib/ca-certificates/pem/0123abcd.0");
  auto store = Must(FindCaStore({}, root_));
  EXPECT_EQ(store.file, "");
  EXPECT_EQ(store.dir, root_ + "/var/lib/ca-certificates/pem");
  // gRPC's text: each certificate once (the hash link is the file it names), in order.
  auto pem = Must(ReadCaPem(store));
  EXPECT_EQ(pem, std::string(kCert) +
                     "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n");
}

TEST_F(CaStoreTest, NothingFoundNamesEveryPathTriedAndTheOverride) {
  Put("/etc/ssl/certs/README", "not a certificate\n");
  auto store = FindCaStore({}, root_);
  ASSERT_FALSE(store.ok());
  const std::string message = store.status().message();
  for (const char* path : {"/etc/ssl/certs/ca-certificates.crt",
                           "/etc/pki/tls/certs/ca-bundle.crt",
                           "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
                           "/etc/ssl/ca-bundle.pem", "/var/lib/ca-certificates/ca-bundle.pem",
                           "/etc/ssl/cert.pem", "/etc/ssl/certs/", "/etc/pki/tls/certs/",
                           "/var/lib/ca-certificates/pem/"}) {
    EXPECT_NE(message.find(root_ + path), std::string::npos) << path << ": " << message;
  }
  EXPECT_NE(message.find("SSL_CERT_FILE"), std::string::npos) << message;
}

TEST_F(CaStoreTest, SslCertFileAloneNamesTheStore) {
  Put("/etc/ssl/certs/ca-certificates.crt");  // the host's store: not used
  const std::string own = Put("/home/me/test-ca.pem");
  auto store = Must(FindCaStore({own, ""}, root_));
  EXPECT_EQ(store.file, own);
  EXPECT_EQ(store.dir, "");
  EXPECT_TRUE(store.from_environment);
  EXPECT_EQ(store.Describe(), "SSL_CERT_FILE=" + own);
}

TEST_F(CaStoreTest, SslCertDirAloneNamesTheStore) {
  Put("/etc/ssl/certs/ca-certificates.crt");
  const std::string own = Put("/home/me/cas/mine.crt");
  const std::string dirs = root_ + "/home/me/cas:" + root_ + "/etc/ssl/certs";
  auto store = Must(FindCaStore({"", dirs}, root_));
  EXPECT_EQ(store.file, "");
  EXPECT_EQ(store.dir, dirs);
  EXPECT_EQ(store.Describe(), "SSL_CERT_DIR=" + dirs);
  // Every certificate file of every directory (Debian's bundle is a .crt too).
  auto pem = Must(ReadCaPem(store));
  EXPECT_EQ(pem, std::string(kCert) + kCert);
  // Both set: both name the store.
  store = Must(FindCaStore({own, dirs}, root_));
  EXPECT_EQ(store.file, own);
  EXPECT_EQ(store.dir, dirs);
  EXPECT_EQ(store.Describe(), "SSL_CERT_FILE=" + own + " and SSL_CERT_DIR=" + dirs);
}

TEST_F(CaStoreTest, AnOverrideNamingNothingIsAnErrorNotAFallBack) {
  Put("/etc/ssl/certs/ca-certificates.crt");  // would do, but the user named another
  auto store = FindCaStore({root_ + "/missing.pem", ""}, root_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("SSL_CERT_FILE='" + root_ + "/missing.pem'"),
            std::string::npos)
      << store.status().message();
  store = FindCaStore({"", root_ + "/etc/ssl/certs:" + root_ + "/nowhere"}, root_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("'" + root_ + "/nowhere' is no readable directory"),
            std::string::npos)
      << store.status().message();
  // A directory is not a bundle.
  EXPECT_FALSE(FindCaStore({root_ + "/etc/ssl/certs", ""}, root_).ok());
}

TEST_F(CaStoreTest, AStoreWithoutAPemCertificateIsAnError) {
  const std::string junk = Put("/junk.pem", "not a certificate\n");
  auto store = Must(FindCaStore({junk, ""}, root_));
  auto pem = ReadCaPem(store);
  ASSERT_FALSE(pem.ok());
  EXPECT_NE(pem.status().message().find("SSL_CERT_FILE=" + junk + " holds no PEM"),
            std::string::npos)
      << pem.status().message();
}

}  // namespace ca_certificates_test
}  // namespace arrowport
