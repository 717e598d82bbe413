#include "arrowport/config/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace arrowport::config {

TEST(Config, DefaultsAreValid) {
  auto config = Load("", {}, {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->db_path, "arrowport.duckdb");
  EXPECT_EQ(config->flight.port, 8815);
  EXPECT_EQ(config->http.port, 8888);
}

TEST(Config, ParsesCanonicalKeysAndStreams) {
  auto config = ParseYaml(R"(
db_path: ":memory:"
flight: {host: 0.0.0.0, port: 9000}
duckdb: {threads: 2, memory_limit: "1GB", init_sql: ["SELECT 1"]}
views: {dataset: "data/*.parquet"}
streams:
  sensors: {target_table: sensor_readings, chunk_size: 1000, schema_policy: add_columns, commit: per_batch}
)", "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->db_path, ":memory:");
  EXPECT_EQ(config->flight.host, "0.0.0.0");
  EXPECT_EQ(config->flight.port, 9000);
  EXPECT_EQ(config->duckdb_threads, 2);
  EXPECT_EQ(config->duckdb_init_sql.size(), 1u);
  EXPECT_EQ(config->views.at("dataset"), "data/*.parquet");
  const auto route = RouteFor(*config, "sensors");
  EXPECT_EQ(route.target_table, "sensor_readings");
  EXPECT_EQ(route.chunk_size, 1000);
  EXPECT_EQ(route.schema_policy, SchemaPolicy::kAddColumns);
  EXPECT_EQ(route.commit, CommitMode::kPerBatch);
  EXPECT_EQ(RouteFor(*config, "other").target_table, "other");
}

TEST(Config, AcceptsSeedAliases) {
  auto config = ParseYaml(R"(
api: {host: 127.0.0.2, port: 8000}
duckdb: {path: seed.duckdb}
defaults: {chunk_size: 5000}
duckdb_extensions: [json]
streams: {s: {}}
)", "seed.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->http.port, 8000);
  EXPECT_EQ(config->db_path, "seed.duckdb");
  EXPECT_EQ(config->default_chunk_size, 5000);
  EXPECT_EQ(RouteFor(*config, "s").chunk_size, 5000);
  EXPECT_EQ(config->duckdb_extensions, std::vector<std::string>{"json"});
}

TEST(Config, UnknownKeyNamesFileAndKey) {
  auto config = ParseYaml("flight: {prot: 1}\n", "my.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(), "my.yaml: key 'flight.prot': unknown key");
  auto stream = ParseYaml("streams: {s: {comit: per_batch}}\n", "my.yaml");
  ASSERT_FALSE(stream.ok());
  EXPECT_NE(stream.status().message().find("streams.s.comit"), std::string::npos);
}

TEST(Config, InvalidValuesAreRejected) {
  EXPECT_FALSE(ParseYaml("flight: {port: abc}\n", "c.yaml").ok());
  EXPECT_FALSE(ParseYaml("streams: {s: {commit: sometimes}}\n", "c.yaml").ok());
  EXPECT_FALSE(ParseYaml("streams: {s: {target_table: \"x; DROP TABLE y\"}}\n", "c.yaml").ok());
  EXPECT_FALSE(ParseYaml("streams: {\"bad name\": {}}\n", "c.yaml").ok());
  EXPECT_FALSE(ParseYaml("[1, 2]\n", "c.yaml").ok());
  EXPECT_FALSE(ParseYaml("a: [\n", "c.yaml").ok());
  auto config = ParseYaml("flight: {port: 70000}\n", "c.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(Validate(*config).ok());
  auto level = ParseYaml("log: {level: verbose}\n", "c.yaml");
  ASSERT_TRUE(level.ok());
  auto st = Validate(*level);
  EXPECT_NE(st.message().find("log.level"), std::string::npos) << st.ToString();
}

TEST(Config, EnvironmentBeatsFileAndFlagsBeatEnvironment) {
  const std::string path = ::testing::TempDir() + "/arrowport_config_test.yaml";
  {
    std::ofstream out(path);
    out << "flight: {port: 9000}\nhttp: {port: 9001}\ndb_path: file.duckdb\n";
  }
  Overrides overrides;
  overrides.db_path = "flag.duckdb";
  auto config = Load(path, {"ARROWPORT_FLIGHT_PORT=9100", "ARROWPORT_DB_PATH=env.duckdb",
                            "ARROWPORT_ROOT=/ignored", "PATH=/bin"},
                     overrides);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->flight.port, 9100);
  EXPECT_EQ(config->http.port, 9001);
  EXPECT_EQ(config->db_path, "flag.duckdb");
  auto bad = Load(path, {"ARROWPORT_FLIGHT_PORT=many"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ARROWPORT_FLIGHT_PORT"), std::string::npos);
  std::remove(path.c_str());
  EXPECT_TRUE(Load("/nonexistent/arrowport.yaml", {}, {}).status().IsIOError());
}

}  // namespace arrowport::config

namespace arrowport::config {
TEST(Config, CheckpointInterval) {
  auto config = ParseYaml("duckdb: {checkpoint_interval_s: 30}\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->checkpoint_interval_s, 30);
  auto negative = ParseYaml("duckdb: {checkpoint_interval_s: -1}\n", "c.yaml");
  ASSERT_TRUE(negative.ok());
  EXPECT_FALSE(Validate(*negative).ok());
}
}  // namespace arrowport::config

namespace arrowport::config {
TEST(Config, UnsupportedSecurityIsRefusedNotIgnored) {
  auto tls = ParseYaml("tls: {cert: a.crt, key: a.key}\n", "c.yaml");
  ASSERT_TRUE(tls.ok());
  EXPECT_NE(Validate(*tls).message().find("TLS is not supported"), std::string::npos);
  auto auth = ParseYaml("auth: {enabled: true}\n", "c.yaml");
  ASSERT_TRUE(auth.ok());
  EXPECT_NE(Validate(*auth).message().find("auth.enabled"), std::string::npos);
}
}  // namespace arrowport::config
