#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "arrowport/lake/catalog_connection.h"

namespace arrowport::lake {
namespace catalog_postgres_test {

using Params = std::vector<std::pair<std::string, std::string>>;

// The store a host holds: a bundle, a directory only, or nothing.
arrow::Result<CaStore> Bundle() { return CaStore{"/etc/pki/tls/certs/ca-bundle.crt", "", false}; }
arrow::Result<CaStore> DirectoryOnly() { return CaStore{"", "/etc/ssl/certs", false}; }
arrow::Result<CaStore> Nothing() {
  return arrow::Status::IOError("no CA certificates found on this host (tried ...)");
}

Params Must(arrow::Result<Params> params) {
  EXPECT_TRUE(params.ok()) << params.status().ToString();
  return params.ok() ? *params : Params{};
}

TEST(SystemRootCertParamsTest, SystemNamesTheHostsBundleWithVerifyFull) {
  const Params expected = {{"sslrootcert", "/etc/pki/tls/certs/ca-bundle.crt"},
                           {"sslmode", "verify-full"}};
  EXPECT_EQ(Must(SystemRootCertParams("host=db.example sslrootcert=system", Bundle)),
            expected);
  EXPECT_EQ(Must(SystemRootCertParams(
                "postgresql://lake@db.example/lake?sslrootcert=system&sslmode=verify-full",
                Bundle)),
            expected);
}

TEST(SystemRootCertParamsTest, OtherConnectionsAreLeftAlone) {
  // No sslrootcert, the user's own file, or a weaker sslmode (libpq refuses it itself).
  for (const char* conninfo : {"host=127.0.0.1 dbname=lake",
                               "host=db sslmode=verify-full sslrootcert=/home/me/ca.pem",
                               "host=db sslrootcert=system sslmode=require",
                               "not a conninfo = = ="}) {
    EXPECT_EQ(Must(SystemRootCertParams(conninfo, Bundle)), Params{}) << conninfo;
  }
  // A host with a CA directory only: libpq takes no directory; OpenSSL's lookup stays.
  EXPECT_EQ(Must(SystemRootCertParams("host=db sslrootcert=system", DirectoryOnly)),
            Params{});
}

TEST(SystemRootCertParamsTest, NoStoreIsAnErrorNamingTheSetting) {
  auto params = SystemRootCertParams("host=db sslrootcert=system", Nothing);
  ASSERT_FALSE(params.ok());
  EXPECT_NE(params.status().message().find("sslrootcert=system: no CA certificates found"),
            std::string::npos)
      << params.status().message();
  // Without "system" the store is never looked for.
  EXPECT_TRUE(SystemRootCertParams("host=db", Nothing).ok());
}

}  // namespace catalog_postgres_test
}  // namespace arrowport::lake
