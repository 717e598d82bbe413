// Where a refused value came from, and keys given twice: an operator is told the place to
// mend (a hostile run was sent to the config file for an environment variable's value).
#include "arrowport/config/config.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace arrowport::config {
namespace config_origin_test {

TEST(ConfigOrigin, ARefusedValueNamesTheVariableOrFlagThatGaveIt) {
  const std::string path = ::testing::TempDir() + "/arrowport_config_origin_test.yaml";
  {
    std::ofstream out(path);
    out << "flight: {port: 9000}\n";
  }
  for (const auto& [variable, key] :
       std::vector<std::pair<std::string, std::string>>{
           {"ARROWPORT_LOG_LEVEL=verbose", "log.level"},
           {"ARROWPORT_HTTP_HOST=0.0.0.0", "http.host"},
           {"ARROWPORT_TLS_CERT=" + path, "tls"},
           {"ARROWPORT_AUTH_ENABLED=true", "auth.enabled"}}) {
    const auto refused = Load(path, {variable}, {});
    ASSERT_FALSE(refused.ok()) << variable;
    const std::string name = variable.substr(0, variable.find('='));
    const std::string said = "environment " + name + ": key '" + key + "'";
    EXPECT_EQ(refused.status().message().rfind(said, 0), 0u) << refused.status();
  }
  Overrides open_host;
  open_host.flight_host = open_host.http_host = "0.0.0.0";
  const auto by_flag = Load(path, {}, open_host);
  ASSERT_FALSE(by_flag.ok());
  EXPECT_EQ(by_flag.status().message().rfind("flag --host: key 'flight.host'", 0), 0u)
      << by_flag.status().ToString();
  // What the file itself holds is still the file's.
  {
    std::ofstream out(path);
    out << "log: {level: verbose}\n";
  }
  const auto from_file = Load(path, {"ARROWPORT_FLIGHT_PORT=9100"}, {});
  ASSERT_FALSE(from_file.ok());
  EXPECT_EQ(from_file.status().message().rfind(path + ": key 'log.level'", 0), 0u)
      << from_file.status().ToString();
  std::remove(path.c_str());
}

// yaml-cpp kept one of a mapping's two equal keys without a word.
TEST(ConfigOrigin, AKeyGivenTwiceIsRefused) {
  const auto twice =
      ParseYaml("flight:\n  port: 8815\n  host: ::1\n  port: 9000\n", "c.yaml");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(),
            "c.yaml: key 'flight.port': given twice (lines 2 and 4): keep one");
  EXPECT_FALSE(ParseYaml("streams: {a: {}, a: {}}\n", "c.yaml").ok());
  EXPECT_FALSE(ParseYaml("auth: {users: [{name: a, name: b}]}\n", "c.yaml").ok());
  EXPECT_TRUE(ParseYaml("streams: {a: {}, b: {}}\nflight: {port: 1}\n", "c.yaml").ok());
  EXPECT_FALSE(ParseYaml("streams: {Events: {}, events: {}}\n", "c.yaml").ok());
  // A second document was dropped unread.
  const auto documents =
      ParseYaml("http: {port: 1}\n---\nlog: {level: bogus}\n", "c.yaml");
  ASSERT_FALSE(documents.ok());
  EXPECT_NE(documents.status().message().find("2 YAML documents"), std::string::npos)
      << documents.status();
  EXPECT_TRUE(ParseYaml("---\nhttp: {port: 1}\n", "c.yaml").ok());
  EXPECT_TRUE(ParseYaml("", "c.yaml").ok());
  // Two spellings of one setting (the seed's `api` is `http`).
  const auto aliased = ParseYaml("http: {port: 2}\napi: {port: 1}\n", "c.yaml");
  ASSERT_FALSE(aliased.ok());
  EXPECT_EQ(aliased.status().message(),
            "c.yaml: key 'api.port': sets http.port again ('http.port' set it): keep one");
}

// The walk for repeated keys meets each node once: an anchor that holds itself, or one
// named ten times at each of nine levels (10^9 paths), is read at once.
TEST(ConfigOrigin, AliasesAreWalkedOnce) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(ParseYaml("streams: &x {s: *x}\n", "c.yaml").ok());
  std::string laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 10; ++level) {
    const std::string below = "*l" + std::to_string(level - 1);
    laughs += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) laughs += (i ? ", " : "") + below;
    laughs += "]\n";
  }
  const auto refused = ParseYaml(laughs, "c.yaml");
  EXPECT_FALSE(refused.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace config_origin_test
}  // namespace arrowport::config
