// Secrets in the config file (issue 64): the .deb's 0644 config let any local user read
// auth.token_secret and forge an admin token. A file holding a secret that every user may
// read is refused at start; one a group may read is warned of.
#include "arrowport/config/config_secrets.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

namespace arrowport::config {
namespace config_secrets_test {

using Keys = std::vector<std::string>;

const char* kSecret = "auth: {token_secret: 0123456789abcdef0123456789abcdef}\n";

Keys SecretsOf(const std::string& text) {
  auto config = ParseYaml(text, "t.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? SecretKeys(*config) : Keys{};
}

TEST(ConfigSecrets, EveryKindOfSecretIsFound) {
  EXPECT_EQ(SecretsOf("flight: {port: 9000}\ns3: {access_key_id: AKIA, region: x}\n"),
            Keys{});
  EXPECT_EQ(SecretsOf(kSecret), Keys{"auth.token_secret"});
  EXPECT_EQ(SecretsOf("auth: {users: [{name: a, password_hash: h, role: reader},"
                      " {name: b, password_hash: h, role: admin}]}\n"),
            Keys{"auth.users[].password_hash"});
  EXPECT_EQ(SecretsOf("s3: {secret_access_key: s, session_token: t}\n"),
            (Keys{"s3.secret_access_key", "s3.session_token"}));
  EXPECT_EQ(SecretsOf("transfer: {peers: {'h:1': {user: u, password: p},"
                      " 'h:2': {token: t}, 'h:3': {tls_ca: ca.pem}}}\n"),
            (Keys{"transfer.peers.h:1.password", "transfer.peers.h:2.token"}));
  const std::string ducklake =
      "streams: {s: {sink: ducklake, ducklake: {catalog: '%s', data_path: /tmp/d/}}}\n";
  for (const std::string catalog :
       {"postgres:host=db dbname=lake password=hunter2", "postgres:password = x host=db",
        "postgres:postgresql://lake:hunter2@db/lake",
        // The outside review: a password as a URI parameter was missed.
        "postgres:postgresql://lake@db/lake?password=hunter2",
        "postgres:postgresql://lake@db/lake?sslmode=require&password=hunter2"}) {
    std::string text = ducklake;
    text.replace(text.find("%s"), 2, catalog);
    EXPECT_EQ(SecretsOf(text), Keys{"streams.s.ducklake.catalog"}) << catalog;
  }
  for (const std::string catalog :
       {"postgres:host=db dbname=lake passfile=/run/credentials/a/pgpass",
        "postgres:postgresql://lake@db/lake", "sqlite:/var/lib/lake.sqlite"}) {
    std::string text = ducklake;
    text.replace(text.find("%s"), 2, catalog);
    EXPECT_EQ(SecretsOf(text), Keys{}) << catalog;
  }
  EXPECT_EQ(SecretsOf("duckdb: {init_sql: [\"SET threads = 2\",\n"
                      "  \"CREATE SECRET (TYPE s3, KEY_ID 'a', SECRET 'b')\",\n"
                      "  \"SET s3_secret_access_key = 'x'\"]}\n"),
            (Keys{"duckdb.init_sql[1]", "duckdb.init_sql[2]"}));
}

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/arrowport_config_secrets_test_" +
            std::to_string(::getpid()) + ".yaml";
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  void Write(const std::string& text, mode_t mode) {
    ::unlink(path_.c_str());
    std::ofstream(path_) << text;
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0) << std::strerror(errno);
  }
  std::string path_;
};

TEST_F(SecretFileTest, AWorldReadableFileWithASecretIsRefusedNamingFileKeysAndFix) {
  Write(std::string(kSecret) + "flight: {port: 9000}\n", 0644);
  auto refused = Load(path_, {}, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalid());
  const std::string message = refused.status().message();
  EXPECT_NE(message.find("config file '" + path_ + "' holds secrets (auth.token_secret)"),
            std::string::npos) << message;
  EXPECT_NE(message.find("every user of this machine may read it (mode 0644)"),
            std::string::npos) << message;
  EXPECT_NE(message.find("chmod 600 " + path_), std::string::npos) << message;
  Write(std::string(kSecret), 0604);  // other-readable, group not
  EXPECT_FALSE(Load(path_, {}, {}).ok());
}

TEST_F(SecretFileTest, AGroupReadableFileWithASecretIsWarnedOf) {
  Write(kSecret, 0640);
  auto loaded = Load(path_, {}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_NE(loaded->exposure_warning.find("holds secrets (auth.token_secret) and group "),
            std::string::npos) << loaded->exposure_warning;
  EXPECT_NE(loaded->exposure_warning.find("chmod 600 " + path_), std::string::npos);
  Write(kSecret, 0600);
  loaded = Load(path_, {}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->exposure_warning, "");
  Write(kSecret, 0400);
  EXPECT_TRUE(Load(path_, {}, {}).ok());
}

// The outside review: a config every user could change (to add an admin, or init_sql)
// was taken, with or without secrets, and a reload applied the edit.
TEST_F(SecretFileTest, AFileEveryUserMayChangeIsRefusedAndAGroupThatMayIsWarnedOf) {
  Write("flight: {port: 9000}\n", 0646);
  auto refused = Load(path_, {}, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("may be changed by every user of this machine "
                                            "(mode 0646): refused"),
            std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("chmod go-w " + path_), std::string::npos);
  Write("flight: {port: 9000}\n", 0664);
  auto warned = Load(path_, {}, {});
  ASSERT_TRUE(warned.ok()) << warned.status();
  EXPECT_NE(warned->exposure_warning.find("may be changed by its group (mode 0664)"),
            std::string::npos)
      << warned->exposure_warning;
  Write("flight: {port: 9000}\n", 0644);
  auto kept = Load(path_, {}, {});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->exposure_warning, "");
}

TEST_F(SecretFileTest, AFileWithoutSecretsMayBeReadByAnyone) {
  // The secret from the environment is not in the file: the file may stay readable.
  Write("flight: {port: 9000}\n", 0644);
  auto loaded =
      Load(path_, {"ARROWPORT_AUTH_TOKEN_SECRET=0123456789abcdef0123456789abcdef"}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->auth.token_secret, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(loaded->exposure_warning, "");
}

constexpr const char* kAclName = "system.posix_acl_access";

// A POSIX access ACL as Linux stores it: version 2, then (tag, perm, id) entries.
std::string Acl(const std::vector<std::tuple<uint16_t, uint16_t, uint32_t>>& entries) {
  std::string bytes(4, '\0');
  bytes[0] = 2;
  for (const auto& [tag, perm, id] : entries) {
    char entry[8];
    std::memcpy(entry, &tag, 2);
    std::memcpy(entry + 2, &perm, 2);
    std::memcpy(entry + 4, &id, 4);
    bytes.append(entry, sizeof(entry));
  }
  return bytes;
}

// systemd's LoadCredential= file: 0400, with an ACL naming the service's user, which
// makes its mode read 0440 (the group bits are the ACL's mask). Neither refused nor
// warned of; the same ACL naming another user is.
TEST_F(SecretFileTest, AnAclNamingOnlyTheServersUserIsPrivate) {
  Write(kSecret, 0400);
  const uint32_t self = ::geteuid(), other = self + 4242;
  constexpr uint16_t kUserObj = 1, kUser = 2, kGroupObj = 4, kMask = 0x10, kOther = 0x20;
  const std::string own =
      Acl({{kUserObj, 4, ~0u}, {kUser, 4, self}, {kGroupObj, 0, ~0u}, {kMask, 4, ~0u},
           {kOther, 0, ~0u}});
  if (::setxattr(path_.c_str(), kAclName, own.data(), own.size(), 0) != 0) {
    GTEST_SKIP() << "no POSIX ACLs on " << ::testing::TempDir() << ": "
                 << std::strerror(errno);
  }
  struct stat info {};
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0440u);  // as systemd's credentials show
  auto loaded = Load(path_, {}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->exposure_warning, "");
  const std::string theirs =
      Acl({{kUserObj, 4, ~0u}, {kUser, 4, other}, {kGroupObj, 0, ~0u}, {kMask, 4, ~0u},
           {kOther, 0, ~0u}});
  ASSERT_EQ(::setxattr(path_.c_str(), kAclName, theirs.data(),
                       theirs.size(), 0), 0);
  loaded = Load(path_, {}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_NE(loaded->exposure_warning.find("user " + std::to_string(other) + " (ACL)"),
            std::string::npos) << loaded->exposure_warning;
  // Masked out: the named user's read does not count.
  const std::string masked =
      Acl({{kUserObj, 4, ~0u}, {kUser, 4, other}, {kGroupObj, 0, ~0u}, {kMask, 0, ~0u},
           {kOther, 0, ~0u}});
  ASSERT_EQ(::setxattr(path_.c_str(), kAclName, masked.data(),
                       masked.size(), 0), 0);
  EXPECT_EQ(Load(path_, {}, {})->exposure_warning, "");
}

}  // namespace config_secrets_test
}  // namespace arrowport::config
