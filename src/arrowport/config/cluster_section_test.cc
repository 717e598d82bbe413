// The `cluster:` section (issue 68): a new feature, so these failed before it (no keys).
#include <gtest/gtest.h>

#include "arrowport/config/cluster_nodes.h"
#include "arrowport/config/cluster_section.h"
#include "arrowport/config/config.h"

namespace arrowport::config {
namespace cluster_section_test {

constexpr const char* kThreeNodes =
    "cluster:\n"
    "  secret_file: /etc/arrowport/cluster.key\n"
    "  nodes:\n"
    "    - {name: a, flight: grpc://10.0.0.1:8815, http: http://10.0.0.1:8888/}\n"
    "    - {name: b, flight: grpc+tls://b.internal:8815, http: https://b.internal:8888}\n"
    "    - {name: c-3, flight: grpc://10.0.0.3:8815, http: http://10.0.0.3:8888}\n";

TEST(ClusterConfig, ParsesNodesSelfAndSecret) {
  auto config = ParseYaml(std::string(kThreeNodes) + "  self: b\n", "a.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_TRUE(Validate(*config).ok()) << Validate(*config).ToString();
  ASSERT_EQ(config->cluster.nodes.size(), 3u);
  EXPECT_EQ(config->cluster.nodes[1].name, "b");
  EXPECT_EQ(config->cluster.nodes[1].flight, "grpc+tls://b.internal:8815");
  EXPECT_EQ(config->cluster.nodes[0].http, "http://10.0.0.1:8888");  // trailing / dropped
  EXPECT_EQ(config->cluster.self, "b");
  EXPECT_EQ(config->cluster.secret_file, "/etc/arrowport/cluster.key");
  EXPECT_EQ(config->cluster.health_interval_ms, 1000);
}

TEST(ClusterConfig, EnvironmentNamesTheNodeOfASharedFile) {
  auto config = Load("", {"ARROWPORT_CLUSTER_SELF=c-3"}, {});
  ASSERT_FALSE(config.ok());  // a self without nodes
  EXPECT_NE(config.status().message().find("cluster.nodes"), std::string::npos)
      << config.status().ToString();
  auto parsed = ParseYaml(kThreeNodes, "a.yaml");
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(ClusterSectionKeys().at("cluster.self")(*parsed, "c-3").ok());
  EXPECT_TRUE(Validate(*parsed).ok());
}

TEST(ClusterConfig, RefusesWhatCannotWorkNamingTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"cluster:\n  nodes: {a: 1}\n", "cluster.nodes"},
      {"cluster:\n  nodes:\n    - {name: A, flight: grpc://h:1, http: http://h:2}\n",
       "cluster.nodes[0].name"},
      {"cluster:\n  nodes:\n    - {name: a, flight: http://h:1, http: http://h:2}\n",
       "cluster.nodes 'a'.flight"},
      {"cluster:\n  nodes:\n    - {name: a, flight: grpc://h:1, http: h:2}\n",
       "cluster.nodes 'a'.http"},
      {"cluster:\n  nodes:\n    - {name: a, flight: grpc://h:1, http: http://h:2, x: 1}\n",
       "unknown key"},
      {"cluster:\n  nodes:\n    - {name: a, flight: grpc://h:1, http: http://h:2}\n"
       "    - {name: a, flight: grpc://g:1, http: http://g:2}\n",
       "given before"},
      {"cluster:\n  health_interval_ms: 5\n", "100..60000"},
  };
  for (const auto& [yaml, expected] : cases) {
    auto config = ParseYaml(yaml, "a.yaml");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_NE(config.status().message().find(expected), std::string::npos)
        << config.status().ToString();
  }
  auto no_self = ParseYaml(kThreeNodes, "a.yaml");
  ASSERT_TRUE(no_self.ok());
  EXPECT_NE(Validate(*no_self).message().find("cluster.self"), std::string::npos);
  auto stranger = ParseYaml(std::string(kThreeNodes) + "  self: d\n", "a.yaml");
  ASSERT_TRUE(stranger.ok());
  EXPECT_NE(Validate(*stranger).message().find("not one of"), std::string::npos);
  auto no_secret = ParseYaml(
      "cluster:\n  self: a\n  nodes:\n    - {name: a, flight: grpc://h:1, http: http://h:2}\n",
      "a.yaml");
  ASSERT_TRUE(no_secret.ok());
  EXPECT_NE(Validate(*no_secret).message().find("cluster.secret_file"), std::string::npos);
}

}  // namespace cluster_section_test
}  // namespace arrowport::config
