#include "arrowport/config/config.h"
#include "arrowport/config/config_keys.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace arrowport::config {
namespace config_test {

TEST(Config, DefaultsAreValid) {
  auto config = Load("", {}, {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->db_path, "arrowport.duckdb");
  EXPECT_EQ(config->flight.port, 8815);
  EXPECT_EQ(config->http.port, 8888);
  EXPECT_FALSE(config->duckdb_late_materialization);
}

TEST(Config, ParsesCanonicalKeysAndStreams) {
  auto config = ParseYaml(R"(
db_path: ":memory:"
flight: {host: 0.0.0.0, port: 9000}
duckdb: {threads: 2, memory_limit: "1GB", init_sql: ["SELECT 1"], late_materialization: on}
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
  EXPECT_TRUE(config->duckdb_late_materialization);
  EXPECT_EQ(config->views.at("dataset"), std::vector<std::string>{"data/*.parquet"});
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
  EXPECT_FALSE(ParseYaml("flight: {port: 70000}\n", "c.yaml").ok());  // range-checked
  Config config;
  config.flight.port = 70000;  // built in code: Validate still catches it
  EXPECT_FALSE(Validate(config).ok());
  auto level = ParseYaml("log: {level: verbose}\n", "c.yaml");
  ASSERT_TRUE(level.ok());
  auto st = Validate(*level);
  EXPECT_NE(st.message().find("log.level"), std::string::npos) << st.ToString();
}

// ARROWPORT_TRANSFER_ALLOWED_PEERS was dropped without a word: no scalar key begins
// with "transfer.", so it looked like a script's variable.
TEST(Config, EnvironmentListsAreCommaSeparatedAndFileOnlyKeysRefused) {
  auto config = LoadText("transfer: {allowed_peers: ['old:1']}\n", "c.yaml",
                         {"ARROWPORT_TRANSFER_ALLOWED_PEERS= a.example:8815 ,10.0.0.*:*,,",
                          "ARROWPORT_DUCKDB_EXTENSIONS=json,parquet",
                          "ARROWPORT_TRANSFER_ALLOWD_PEERS=x:1"},
                         {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->transfer.allowed_peers,
            (std::vector<std::string>{"a.example:8815", "10.0.0.*:*"}));
  EXPECT_EQ(config->duckdb_extensions, (std::vector<std::string>{"json", "parquet"}));
  EXPECT_EQ(config->unknown_environment,
            std::vector<std::string>{"ARROWPORT_TRANSFER_ALLOWD_PEERS"});
  // Checked as the file's list is.
  auto bad = LoadText("", "", {"ARROWPORT_TRANSFER_ALLOWED_PEERS=no-port"}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ARROWPORT_TRANSFER_ALLOWED_PEERS"), std::string::npos)
      << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("host:port"), std::string::npos);
  // Items a shell list would give (spaces, new lines) match no peer: refused.
  for (const char* entry : {"ARROWPORT_TRANSFER_ALLOWED_PEERS=a:1 b:2",
                            "ARROWPORT_TRANSFER_ALLOWED_PEERS=a:1\nb:2"}) {
    EXPECT_FALSE(LoadText("", "", {entry}, {}).ok()) << entry;
  }
  for (const char* variable : {"ARROWPORT_TRANSFER_PEERS", "ARROWPORT_AUTH_USERS",
                               "ARROWPORT_DUCKDB_INIT_SQL"}) {
    auto refused = LoadText("", "", {std::string(variable) + "=x"}, {});
    ASSERT_FALSE(refused.ok()) << variable;
    EXPECT_NE(refused.status().message().find("set it in the config file"), std::string::npos)
        << refused.status().ToString();
  }
}

TEST(Config, EnvironmentTyposOfASettingAreListedOthersAreTheScripts) {
  auto config = LoadText("", "", {"ARROWPORT_LIMITS_QUERY_TIMOUT_S=5", "ARROWPORT_SKIP_BUILD=1",
                                  "ARROWPORT_TLS_CA=ca.pem", "ARROWPORT_FLIGHT_PORT=9100",
                                  "ARROWPORT_FLIGHT_PROT=1", "ARROWPORT_SERVER=grpc://x:1"},
                         {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->flight.port, 9100);
  EXPECT_EQ(config->unknown_environment,
            (std::vector<std::string>{"ARROWPORT_LIMITS_QUERY_TIMOUT_S",
                                      "ARROWPORT_FLIGHT_PROT"}));
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


TEST(Config, BindHostsAreOneSpellingOfTheirAddress) {
  // An IPv6 address in brackets, from any source, loses them: every URI built from the
  // host brackets it again, and the listeners resolve the bare address.
  Overrides overrides;
  overrides.flight_host = "[::1]";
  auto config = LoadText("http: {host: '[::1]'}\nmetrics: {host: '[0:0::1]'}\n", "b.yaml",
                         {}, overrides);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->flight.host, "::1");
  EXPECT_EQ(config->http.host, "::1");
  EXPECT_EQ(config->metrics.host, "0:0::1");
  auto from_env = LoadText("auth: {enabled: false}\n", "b.yaml",
                           {"ARROWPORT_HTTP_HOST=[::]", "ARROWPORT_FLIGHT_HOST=::"}, {});
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(from_env->http.host, "::");
  EXPECT_EQ(from_env->flight.host, "::");
  // IPv4 addresses and names are left as written.
  overrides.flight_host = "0.0.0.0";
  auto v4 = LoadText("auth: {enabled: false}\nhttp: {host: localhost}\n", "b.yaml", {},
                     overrides);
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_EQ(v4->flight.host, "0.0.0.0");
  EXPECT_EQ(v4->http.host, "localhost");
  // A port in the host, an unclosed bracket, or brackets around anything but an IPv6
  // address: refused, naming the key and where the port goes.
  for (const char* bad : {"[::1]:8815", "127.0.0.1:8815", "[::1", "::1]", "[localhost]",
                          "[127.0.0.1]", "[]", "fe80::1%eth0"}) {
    overrides.flight_host = bad;
    auto refused = LoadText("", "", {}, overrides);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("key 'flight.host'"), std::string::npos)
        << refused.status().ToString();
    EXPECT_NE(refused.status().message().find("flight.port"), std::string::npos) << bad;
  }
  // Neither a name nor an address: said so (it was refused as "not loopback").
  for (const char* bad : {"not a host!", "host/name", "a\tb"}) {
    overrides.flight_host = bad;
    auto refused = LoadText("", "", {}, overrides);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("is neither a host name nor an IP address"),
              std::string::npos)
        << refused.status().ToString();
  }
  overrides.flight_host = "db-1.internal_zone.example";
  auto named = LoadText("auth: {enabled: false}\n", "a.yaml", {}, overrides);
  EXPECT_TRUE(named.ok()) << named.status().ToString();
}

TEST(Config, CheckpointInterval) {
  auto config = ParseYaml("duckdb: {checkpoint_interval_s: 30}\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->checkpoint_interval_s, 30);
  auto negative = ParseYaml("duckdb: {checkpoint_interval_s: -1}\n", "c.yaml");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("duckdb.checkpoint_interval_s"),
            std::string::npos);
  auto wal = ParseYaml("duckdb: {checkpoint_wal_bytes: 64MiB}\n", "c.yaml");
  ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  EXPECT_EQ(wal->checkpoint_wal_bytes, int64_t{64} << 20);
  EXPECT_FALSE(ParseYaml("duckdb: {checkpoint_wal_bytes: 1000}\n", "c.yaml").ok());
}

TEST(Config, TlsFilesAreCheckedAtLoad) {
  auto missing = ParseYaml("tls: {cert: /nonexistent/a.crt, key: /nonexistent/a.key}\n", "c.yaml");
  ASSERT_TRUE(missing.ok());
  EXPECT_NE(Validate(*missing).message().find("'tls.cert': '/nonexistent/a.crt' is not a file"),
            std::string::npos) << Validate(*missing).message();
  auto half = ParseYaml("tls: {cert: /etc/hostname}\n", "c.yaml");
  ASSERT_TRUE(half.ok());
  EXPECT_NE(Validate(*half).message().find("cert and key must be given together"),
            std::string::npos);
  auto ca_only = ParseYaml("tls: {client_ca: /etc/hostname}\n", "c.yaml");
  ASSERT_TRUE(ca_only.ok());
  EXPECT_NE(Validate(*ca_only).message().find("'tls.client_ca': needs tls.cert"),
            std::string::npos) << Validate(*ca_only).message();
  auto directory = ParseYaml("tls: {cert: /tmp, key: /tmp}\n", "c.yaml");
  ASSERT_TRUE(directory.ok());
  EXPECT_NE(Validate(*directory).message().find("is not a file"), std::string::npos);
}

TEST(Config, UnsupportedSecurityIsRefusedNotIgnored) {
  auto auth = ParseYaml("auth: {enabled: true}\n", "c.yaml");
  ASSERT_TRUE(auth.ok());
  EXPECT_NE(Validate(*auth).message().find("auth.enabled"), std::string::npos);
}


// Every malformed shape must come back as a Status naming the file; none may throw
// (an exception here aborts the server at start and kills it on hot reload).
TEST(Config, MalformedShapesAreErrorsNotExceptions) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"defaults: 5\n", "'defaults'"},
      {"defaults: [1]\n", "'defaults'"},
      {"defaults: {chunk_size: [1]}\n", "'defaults.chunk_size'"},
      {"defaults: {chunk_size: {a: 1}}\n", "'defaults.chunk_size'"},
      {"? [1, 2]\n: 3\n", "key"},
      {"~: 1\n", "key"},
      {"flight: {? {a: 1} : 2}\n", "'flight"},
      {"streams: {[a]: {}}\n", "'streams"},
      {"streams: {s: {[x]: 1}}\n", "'streams.s"},
      {"streams: {s: {target_table: [x]}}\n", "'streams.s.target_table'"},
      {"views: {[a]: b}\n", "'views"},
      {"views: {v: [[b]]}\n", "'views.v'"},
      {"views: {v: {a: b}}\n", "'views.v'"},
      {"duckdb: {init_sql: [[1]]}\n", "'duckdb.init_sql'"},
      {"duckdb: {init_sql: {a: 1}}\n", "'duckdb.init_sql'"},
      {"duckdb: 5\n", "'duckdb'"},
      {"flight: {port: {a: 1}}\n", "'flight.port'"},
      {"auth: {users: 5}\n", "'auth.users'"},
      {"a: &x {b: *x}\n", ""},
      {"streams: &s {x: *s}\n", ""},
  };
  for (const auto& [text, key] : cases) {
    arrow::Result<Config> config;
    EXPECT_NO_THROW(config = ParseYaml(text, "bad.yaml")) << text;
    ASSERT_FALSE(config.ok()) << text;
    const auto& message = config.status().message();
    EXPECT_EQ(message.rfind("bad.yaml: ", 0), 0u) << text << " -> " << message;
    EXPECT_NE(message.find(key), std::string::npos) << text << " -> " << message;
  }
}

TEST(Config, IntegersAreRangeCheckedBeforeNarrowing) {
  // 4294975111 = 2^32 + 7815: a static_cast<int> used to turn it into a valid port.
  for (const auto* text : {"flight: {port: 4294975111}\n", "http: {port: 65536}\n",
                           "flight: {port: -1}\n", "duckdb: {threads: 4294967297}\n",
                           "compression: {level: 4294967299}\n",
                           "limits: {max_concurrent_requests: 4294967360}\n",
                           "http: {max_connections: 4294967808}\n"}) {
    auto config = ParseYaml(text, "c.yaml");
    const auto st = config.ok() ? Validate(*config) : config.status();
    EXPECT_FALSE(st.ok()) << text;
  }
  auto port = ParseYaml("flight: {port: 4294975111}\n", "c.yaml");
  ASSERT_FALSE(port.ok());
  EXPECT_NE(port.status().message().find("key 'flight.port': must be 0..65535"),
            std::string::npos) << port.status().ToString();
  auto env = Load("", {"ARROWPORT_FLIGHT_PORT=4294975111"}, {});
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("ARROWPORT_FLIGHT_PORT"), std::string::npos);
  EXPECT_FALSE(Load("", {"ARROWPORT_DUCKDB_THREADS=4294967298"}, {}).ok());
  EXPECT_FALSE(Load("", {"ARROWPORT_HTTP_PORT=99999999999999999999"}, {}).ok());
  EXPECT_TRUE(Load("", {"ARROWPORT_FLIGHT_PORT=65535", "ARROWPORT_HTTP_PORT=0"}, {}).ok());
}

// Keys that take one of a few words say which, from the file and from the environment.
TEST(Config, WordKeysNameTheirChoices) {
  auto config = ParseYaml("http: {compression: never}\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->http_compression, "never");
  EXPECT_EQ(Config{}.http_compression, "auto");
  auto env = Load("", {"ARROWPORT_HTTP_COMPRESSION=sometimes"}, {});
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("must be auto, always or never, got 'sometimes'"),
            std::string::npos) << env.status().ToString();
  auto style = ParseYaml("s3: {url_style: virtual}\n", "c.yaml");
  ASSERT_FALSE(style.ok());
  EXPECT_NE(style.status().message().find("must be path or vhost, got 'virtual'"),
            std::string::npos) << style.status().ToString();
  EXPECT_TRUE(Load("", {"ARROWPORT_HTTP_COMPRESSION=always"}, {}).ok());
}

TEST(Config, ResourceKeysAreBounded) {
  auto check = [](const std::string& text) {
    auto config = ParseYaml(text, "c.yaml");
    return config.ok() ? Validate(*config) : config.status();
  };
  EXPECT_FALSE(check("duckdb: {threads: 100000}\n").ok());
  EXPECT_FALSE(check("duckdb: {threads: 1025}\n").ok());
  EXPECT_FALSE(check("duckdb: {threads: -1}\n").ok());
  EXPECT_TRUE(check("duckdb: {threads: 1024}\n").ok());
  EXPECT_TRUE(check("duckdb: {threads: 0}\n").ok());
  EXPECT_FALSE(check("compression: {level: 1000}\n").ok());
  EXPECT_FALSE(check("compression: {level: 23}\n").ok());
  EXPECT_TRUE(check("compression: {level: 22}\n").ok());
  EXPECT_FALSE(check("http: {max_connections: 0}\n").ok());
  EXPECT_FALSE(check("http: {max_connections: 65537}\n").ok());
  EXPECT_TRUE(check("http: {max_connections: 65536}\n").ok());
  EXPECT_FALSE(check("limits: {max_concurrent_requests: 100001}\n").ok());
  EXPECT_TRUE(check("limits: {max_concurrent_requests: 100000}\n").ok());
  EXPECT_FALSE(check("limits: {max_batch_bytes: 1048575}\n").ok());
  EXPECT_TRUE(check("limits: {max_batch_bytes: 1048576}\n").ok());
  EXPECT_TRUE(check("limits: {max_batch_bytes: 17179869184}\n").ok());
  EXPECT_FALSE(check("limits: {max_batch_bytes: 17179869185}\n").ok());
  EXPECT_FALSE(check("limits: {max_concurrent_per_user: -1}\n").ok());
  EXPECT_FALSE(check("limits: {max_concurrent_per_user: 100001}\n").ok());
  EXPECT_TRUE(check("limits: {max_concurrent_per_user: 0}\n").ok());
  EXPECT_FALSE(check("limits: {requests_per_second_per_user: -1}\n").ok());
  EXPECT_FALSE(check("limits: {request_burst_per_user: 1000001}\n").ok());
  EXPECT_TRUE(check("limits: {requests_per_second_per_user: 5, request_burst_per_user: 20}\n").ok());
  EXPECT_FALSE(check("limits: {idle_timeout_s: -1}\n").ok());
  EXPECT_TRUE(check("limits: {idle_timeout_s: 0}\n").ok());
  EXPECT_TRUE(Load("", {"ARROWPORT_LIMITS_MAX_CONCURRENT_PER_USER=4"}, {}).ok());
  const auto threads = check("duckdb: {threads: 100000}\n");
  EXPECT_NE(threads.message().find("duckdb.threads"), std::string::npos) << threads.ToString();
  EXPECT_FALSE(Load("", {"ARROWPORT_DUCKDB_THREADS=100000"}, {}).ok());
  EXPECT_FALSE(Load("", {"ARROWPORT_LIMITS_MAX_BATCH_BYTES=1"}, {}).ok());
  // DuckDB reads a negative memory_limit as none: the cap would be gone without a word.
  EXPECT_FALSE(check("duckdb: {memory_limit: \"-1\"}\n").ok());
  EXPECT_FALSE(check("duckdb: {memory_limit: none}\n").ok());
  EXPECT_FALSE(check("duckdb: {memory_limit: \"NULL\"}\n").ok());
  EXPECT_FALSE(Load("", {"ARROWPORT_DUCKDB_MEMORY_LIMIT= -5GB"}, {}).ok());
  EXPECT_TRUE(check("duckdb: {memory_limit: 512MiB}\n").ok());
  EXPECT_TRUE(check("duckdb: {memory_limit: \" 1.5 gb \"}\n").ok());
  EXPECT_TRUE(check("duckdb: {memory_limit: \"80%\"}\n").ok());
  EXPECT_TRUE(check("duckdb: {memory_limit: 1e3MB}\n").ok());  // DuckDB: 953.6 MiB
  EXPECT_FALSE(check("duckdb: {memory_limit: 1e+3MB}\n").ok());  // DuckDB: refused
  EXPECT_FALSE(check("duckdb: {memory_limit: \"  \"}\n").ok());  // DuckDB: no number
  // DuckDB drops what follows a blank after the unit without a word; the others it
  // refuses only when the database opens.
  EXPECT_FALSE(check("duckdb: {memory_limit: \"1GB garbage\"}\n").ok());
  EXPECT_FALSE(check("duckdb: {memory_limit: \"1GB;2GB\"}\n").ok());
  EXPECT_FALSE(check("duckdb: {memory_limit: \"1.2.3GB\"}\n").ok());
  EXPECT_FALSE(check("duckdb: {memory_limit: \".GB\"}\n").ok());
  const auto negative = check("duckdb: {memory_limit: -5GB}\n");
  EXPECT_NE(negative.message().find("duckdb.memory_limit"), std::string::npos)
      << negative.ToString();
}

TEST(Config, OnlyRegularFilesAreRead) {
  // A directory used to read as an empty file, i.e. an all-defaults config.
  auto dir = Load(::testing::TempDir(), {}, {});
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.status().message().find("not a regular file"), std::string::npos)
      << dir.status().ToString();
  // /dev/zero used to be read until memory ran out.
  auto zero = Load("/dev/zero", {}, {});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("/dev/zero"), std::string::npos);
  const std::string big = ::testing::TempDir() + "/arrowport_big_config.yaml";
  {
    std::ofstream out(big);
    out << "# " << std::string((16 << 20) + 1, 'x') << "\n";
  }
  auto too_big = Load(big, {}, {});
  std::remove(big.c_str());
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("larger than"), std::string::npos)
      << too_big.status().ToString();
}



TEST(Config, StreamTransformsAndTransferPeers) {
  auto config = ParseYaml(
      "streams: {s: {transform: \"SELECT *, now() AS received_at FROM input\"}}\n"
      "transfer:\n"
      "  allowed_peers: ['10.0.0.*:8815', 'localhost:9000']\n"
      "  peers: {'10.0.0.1:8815': {user: copier, password: pw, tls_ca: ca.pem}}\n",
      "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(RouteFor(*config, "s").transform, "SELECT *, now() AS received_at FROM input");
  EXPECT_EQ(RouteFor(*config, "other").transform, "");
  EXPECT_EQ(config->transfer.allowed_peers.size(), 2u);
  EXPECT_EQ(config->transfer.peers.at("10.0.0.1:8815").user, "copier");
  for (const auto& [yaml, key] : std::vector<std::pair<std::string, std::string>>{
           {"streams: {s: {transform: \" ; \"}}\n", "streams.s.transform"},
           {"transfer: {allowed_peers: 'x:1'}\n", "transfer.allowed_peers"},
           {"transfer: {allowed_peers: ['no-port']}\n", "transfer.allowed_peers"},
           {"transfer: {allowed_peers: ['grpc://x:1']}\n", "transfer.allowed_peers"},
           {"transfer: {allowed_peers: ['x:99999']}\n", "transfer.allowed_peers"},
           {"transfer: {allowed_peers: ['x:0']}\n", "transfer.allowed_peers"},
           {"transfer: {allowed_peers: ['x:']}\n", "transfer.allowed_peers"},
           {"transfer: {allowed_peers: ['x:8815x']}\n", "transfer.allowed_peers"},
           {"transfer: {peers: {'a:1': {user: u, token: t}}}\n", "transfer.peers.a:1"},
           {"transfer: {peers: {'a:1': {pass: x}}}\n", "transfer.peers.a:1.pass"},
           {"transfer: {peer: []}\n", "transfer.peer"},
           {"transfer: {peers: {'a:1': {password: p}}}\n", "transfer.peers.a:1"},
           {"transfer: {peers: {'a:1': {token: \"x\\ny\"}}}\n", "transfer.peers.a:1.token"}}) {
    auto bad = ParseYaml(yaml, "t.yaml");
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.status().message().find("'" + key + "'"), std::string::npos)
        << bad.status().ToString();
  }
}


// Booleans are the usual words in any case (YAML's TRUE and True were refused while
// "off" was taken); anything else names itself.
TEST(Config, BooleansAreTheUsualWordsInAnyCase) {
  for (const char* yes : {"true", "TRUE", "True", "yes", "On", "1"}) {
    EXPECT_TRUE(ParseBool(yes).ValueOr(false)) << yes;
  }
  for (const char* no : {"false", "FALSE", "No", "off", "0"}) {
    EXPECT_FALSE(ParseBool(no).ValueOr(true)) << no;
  }
  for (const char* neither : {"maybe", "", "2", "truee"}) {
    auto parsed = ParseBool(neither);
    ASSERT_FALSE(parsed.ok()) << neither;
    EXPECT_NE(parsed.status().message().find("is not a boolean"), std::string::npos);
  }
}
}  // namespace config_test
}  // namespace arrowport::config
