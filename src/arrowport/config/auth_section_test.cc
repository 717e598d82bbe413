#include <gtest/gtest.h>

#include "arrowport/config/config.h"

namespace arrowport::config {
namespace auth_section_test {

constexpr const char* kHash =
    "$argon2id$v=19$m=16384,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
    "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

std::string UsersYaml(const std::string& extra = "") {
  return std::string("auth:\n  users:\n") + "    - {name: ann, password_hash: \"" +
         kHash + "\", role: reader, tables: [t1]}\n" +
         "    - {name: bob, password_hash: \"" + kHash +
         "\", role: writer, streams: [s1, s2]}\n" + "    - {name: cy, password_hash: \"" +
         kHash + "\", role: admin}\n" + extra;
}

TEST(AuthConfig, ParsesUsersRolesAndLists) {
  auto config = ParseYaml(UsersYaml(), "a.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_TRUE(Validate(*config).ok()) << Validate(*config).ToString();
  ASSERT_EQ(config->auth.users.size(), 3u);
  EXPECT_EQ(config->auth.users[0].name, "ann");
  EXPECT_EQ(config->auth.users[0].role, Role::kReader);
  EXPECT_EQ(config->auth.users[0].tables, std::vector<std::string>{"t1"});
  EXPECT_EQ(config->auth.users[1].role, Role::kWriter);
  EXPECT_EQ(config->auth.users[1].streams, (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(config->auth.users[2].role, Role::kAdmin);
  EXPECT_TRUE(AuthEnabled(*config));
}

TEST(AuthConfig, RefusesUnknownKeysBadRolesAndPlainPasswords) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"auth: {users: [{name: a, password_hash: x, role: reader, pasword: y}]}\n",
       "unknown key 'pasword'"},
      {"auth: {users: [{name: a, password_hash: x, role: root}]}\n", "role must be"},
      {"auth: {users: [{password_hash: x}]}\n", "name is required"},
      {"auth: {users: [{name: a}]}\n", "password_hash is required"},
      {"auth: {users: [{name: 'a:b', password_hash: x}]}\n", "must not contain ':'"},
      {"auth: {users: [{name: a, password_hash: x, tables: 3}]}\n", "tables"},
      {"auth: {users: [5]}\n", "auth.users[0]"},
  };
  for (const auto& [text, expected] : cases) {
    auto config = ParseYaml(text, "a.yaml");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_NE(config.status().message().find(expected), std::string::npos)
        << text << " -> " << config.status().message();
  }
  auto plain =
      ParseYaml("auth: {users: [{name: a, password_hash: hunter2}]}\n", "a.yaml");
  ASSERT_TRUE(plain.ok());
  auto st = Validate(*plain);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("plain-text passwords are refused"), std::string::npos);
  EXPECT_NE(st.message().find("hash-password"), std::string::npos);
  auto twice = ParseYaml(
      UsersYaml(std::string("    - {name: ann, password_hash: \"") + kHash + "\"}\n"),
      "a.yaml");
  ASSERT_TRUE(twice.ok());
  EXPECT_NE(Validate(*twice).message().find("listed twice"), std::string::npos);
}

TEST(AuthConfig, SecureByDefault) {
  // Loopback without users: auth off, fine.
  auto local = ParseYaml("flight: {host: 127.0.0.1}\n", "a.yaml");
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(Validate(*local).ok());
  EXPECT_FALSE(AuthEnabled(*local));
  // Any other address without users: refused, naming the way out.
  auto open = ParseYaml("http: {host: 0.0.0.0}\n", "a.yaml");
  ASSERT_TRUE(open.ok());
  auto st = Validate(*open);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("http.host"), std::string::npos);
  EXPECT_NE(st.message().find("enabled: false"), std::string::npos);
  // ... unless authentication is explicitly off, or users are configured.
  auto explicit_off =
      ParseYaml("http: {host: 0.0.0.0}\nauth: {enabled: false}\n", "a.yaml");
  ASSERT_TRUE(explicit_off.ok());
  EXPECT_TRUE(Validate(*explicit_off).ok());
  EXPECT_FALSE(AuthEnabled(*explicit_off));
  auto with_users = ParseYaml("flight: {host: 0.0.0.0}\n" + UsersYaml(), "a.yaml");
  ASSERT_TRUE(with_users.ok());
  EXPECT_TRUE(Validate(*with_users).ok());
  // On without users: nobody could log in.
  auto empty = ParseYaml("auth: {enabled: true}\n", "a.yaml");
  ASSERT_TRUE(empty.ok());
  EXPECT_NE(Validate(*empty).message().find("auth.users is empty"), std::string::npos);
  EXPECT_TRUE(IsLoopback("127.0.0.2"));
  EXPECT_TRUE(IsLoopback("::1"));
  EXPECT_FALSE(IsLoopback("0.0.0.0"));
  EXPECT_FALSE(IsLoopback("10.0.0.1"));
}

TEST(AuthConfig, LoopbackIsParsedAsAnAddress) {
  for (const char* loopback :
       {"localhost", "127.0.0.1", "127.255.0.9", "::1", "[::1]", "0:0:0:0:0:0:0:1",
        "::ffff:127.0.0.1", "[::ffff:127.0.0.2]"}) {
    EXPECT_TRUE(IsLoopback(loopback)) << loopback;
  }
  // The IPv6 wildcard and names that merely start like a loopback address are not.
  for (const char* other : {"::", "[::]", "0.0.0.0", "::2", "::ffff:10.0.0.1", "fe80::1",
                            "127.example.com", "127.", "[127.0.0.1]", "[::1", ""}) {
    EXPECT_FALSE(IsLoopback(other)) << other;
  }
  // So `--host ::` needs authentication, or auth explicitly off, like 0.0.0.0.
  auto wildcard = ParseYaml("flight: {host: '::'}\n", "a.yaml");
  ASSERT_TRUE(wildcard.ok());
  auto st = Validate(*wildcard);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("flight.host"), std::string::npos) << st.ToString();
}

TEST(AuthConfig, TokenSecretAndTtlFromFileAndEnvironment) {
  auto config = ParseYaml("auth: {token_secret: abc, token_ttl_s: 60}\n", "a.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->auth.token_secret, "abc");
  EXPECT_EQ(config->auth.token_ttl_s, 60);
  const std::string secret = "from-env-0123456789abcdef0123456789";
  auto env = Load("", {"ARROWPORT_AUTH_TOKEN_SECRET=" + secret}, {});
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->auth.token_secret, secret);
  auto weak = Load("", {"ARROWPORT_AUTH_TOKEN_SECRET=short"}, {});
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.status().message().find("at least 32 characters"), std::string::npos);
}

}  // namespace auth_section_test
}  // namespace arrowport::config
