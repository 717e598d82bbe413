// Where a refused value came from, and keys given twice: an operator is told the place to
// mend (a hostile run was sent to the config file for an environment variable's value).
#include "arrowport/config/config.h"

#include <gtest/gtest.h>

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
    EXPECT_EQ(refused.status().message().rfind("environment " + name + ": key '" + key + "'", 0),
              0u)
        << refused.status().ToString();
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
  const auto twice = ParseYaml("flight:\n  port: 8815\n  host: ::1\n  port: 9000\n", "c.yaml");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(),
            "c.yaml: key 'flight.port': given twice (line 4 repeats it): keep one");
  EXPECT_FALSE(ParseYaml("streams: {a: {}, a: {}}\n", "c.yaml").ok());
  EXPECT_FALSE(ParseYaml("auth: {users: [{name: a, name: b}]}\n", "c.yaml").ok());
  EXPECT_TRUE(ParseYaml("streams: {a: {}, b: {}}\nflight: {port: 1}\n", "c.yaml").ok());
}

}  // namespace config_origin_test
}  // namespace arrowport::config
