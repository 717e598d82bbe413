// The `arrowport` command line, parsed without running a command: each command's options,
// their ARROWPORT_* fallbacks and defaults, and the usage errors (exit 2, naming the flag).
#include "arrowport/cli/command_line.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "arrowport/cli/client.h"
#include "arrowport/cli/exit_status.h"

namespace arrowport::cli {
namespace command_line_test {

// The variables the command line and the client read: cleared for each test (the runner's
// own environment must not decide a test), set as a test asks, put back after.
constexpr const char* kVariables[] = {"ARROWPORT_SERVER",   "ARROWPORT_TLS_CA",
                                      "ARROWPORT_CONNECT_WAIT", "ARROWPORT_CONFIG",
                                      "ARROWPORT_USER",     "ARROWPORT_PASSWORD"};

class CommandLineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kVariables) {
      if (const char* value = std::getenv(name)) saved_[name] = value;
      ::unsetenv(name);
    }
    input_ = ::testing::TempDir() + "/arrowport_command_line_" + std::to_string(::getpid()) +
             ".csv";
    std::ofstream(input_) << "id\n1\n";
  }
  void TearDown() override {
    for (const char* name : kVariables) ::unsetenv(name);
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
    std::filesystem::remove(input_);
  }

  // `arrowport` followed by `words`; what it printed is in out_ and err_.
  CommandLine Parse(std::vector<std::string> words) {
    words.insert(words.begin(), "arrowport");
    std::vector<const char*> argv;
    for (const auto& word : words) argv.push_back(word.c_str());
    out_.str("");
    err_.str("");
    return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), out_, err_);
  }

  // A usage error: exit code 2, and the message names `flag`.
  void ExpectUsageError(std::vector<std::string> words, const std::string& flag) {
    const CommandLine line = Parse(words);
    ASSERT_TRUE(line.exit_code.has_value()) << "parsed: " << testing::PrintToString(words);
    EXPECT_EQ(*line.exit_code, kUsageError);
    EXPECT_NE(err_.str().find(flag), std::string::npos)
        << "the error should name " << flag << ": " << err_.str();
  }

  std::string input_;  // an existing file for the commands that check theirs
  std::ostringstream out_, err_;
  std::map<std::string, std::string> saved_;
};

TEST_F(CommandLineTest, ACommandIsRequiredAndVersionEndsTheParse) {
  ExpectUsageError({}, "subcommand");
  // An unknown word is no command either (CLI11 says so the same way).
  ExpectUsageError({"unpack"}, "A subcommand is required");
  const CommandLine version = Parse({"--version"});
  ASSERT_TRUE(version.exit_code.has_value());
  EXPECT_EQ(*version.exit_code, kOk);
  EXPECT_EQ(out_.str().rfind("arrowport ", 0), 0u) << out_.str();
  const CommandLine help = Parse({"ingest", "--help"});
  ASSERT_TRUE(help.exit_code.has_value());
  EXPECT_EQ(*help.exit_code, kOk);
  EXPECT_NE(out_.str().find("ARROWPORT_USER and ARROWPORT_PASSWORD"), std::string::npos);
  EXPECT_EQ(Parse({"version"}).command, Command::kVersion);
  EXPECT_EQ(Parse({"hash-password"}).command, Command::kHashPassword);
  // bench passes the rest of its line on (to arrowport-bench), whatever it holds.
  const CommandLine bench = Parse({"bench", "--lake", "--anything"});
  EXPECT_FALSE(bench.exit_code.has_value()) << err_.str();
  EXPECT_EQ(bench.command, Command::kBench);
}

TEST_F(CommandLineTest, IngestDefaultsAndOptions) {
  CommandLine line = Parse({"ingest", input_, "--stream", "sensors"});
  ASSERT_FALSE(line.exit_code.has_value()) << err_.str();
  EXPECT_EQ(line.command, Command::kIngest);
  EXPECT_EQ(line.args.files, std::vector<std::string>{input_});
  EXPECT_EQ(line.args.stream, "sensors");
  EXPECT_EQ(line.args.server_url, "grpc://localhost:8815");
  EXPECT_EQ(line.args.mode, "append");
  EXPECT_EQ(line.args.commit, "");
  EXPECT_EQ(line.args.table, "");
  EXPECT_EQ(line.args.batch_rows, 65536);
  EXPECT_EQ(line.args.connect_wait, 10);
  line = Parse({"ingest", input_, "-s", "s", "-t", "readings", "-m", "replace", "--commit",
                "per_batch", "--batch-rows", "100", "--server", "http://host:9",
                "--connect-wait", "0"});
  ASSERT_FALSE(line.exit_code.has_value()) << err_.str();
  EXPECT_EQ(line.args.table, "readings");
  EXPECT_EQ(line.args.mode, "replace");
  EXPECT_EQ(line.args.commit, "per_batch");
  EXPECT_EQ(line.args.batch_rows, 100);
  EXPECT_EQ(line.args.server_url, "http://host:9");
  EXPECT_EQ(line.args.connect_wait, 0);
}

TEST_F(CommandLineTest, IngestUsageErrorsNameTheFlag) {
  ExpectUsageError({"ingest", input_}, "--stream");
  ExpectUsageError({"ingest", "--stream", "s"}, "files");
  ExpectUsageError({"ingest", "/no/such/file.csv", "--stream", "s"}, "/no/such/file.csv");
  ExpectUsageError({"ingest", input_, "-s", "s", "--mode", "upsert"}, "--mode");
  ExpectUsageError({"ingest", input_, "-s", "s", "--commit", "sometimes"}, "--commit");
  ExpectUsageError({"ingest", input_, "-s", "s", "--batch-rows", "0"}, "--batch-rows");
  ExpectUsageError({"ingest", input_, "-s", "s", "--tls-ca", "/no/such/ca.pem"}, "--tls-ca");
}

TEST_F(CommandLineTest, TheServerComesFromTheFlagElseArrowportServer) {
  ::setenv("ARROWPORT_SERVER", "grpc+tls://elsewhere:9815", 1);
  EXPECT_EQ(Parse({"ingest", input_, "-s", "s"}).args.server_url, "grpc+tls://elsewhere:9815");
  EXPECT_EQ(Parse({"query", "SELECT 1"}).args.server_url, "grpc+tls://elsewhere:9815");
  EXPECT_EQ(Parse({"tables"}).inspect.server_url, "grpc+tls://elsewhere:9815");
  EXPECT_EQ(Parse({"status"}).inspect.server_url, "grpc+tls://elsewhere:9815");
  EXPECT_EQ(Parse({"copy", "--from", "grpc://a:1", "--table", "t"}).copy.to,
            "grpc+tls://elsewhere:9815");
  // The flag wins.
  EXPECT_EQ(Parse({"query", "SELECT 1", "--server", "http://h:1"}).args.server_url,
            "http://h:1");
  EXPECT_EQ(Parse({"streams", "--server", "grpc://h:2"}).inspect.server_url, "grpc://h:2");
  ::unsetenv("ARROWPORT_SERVER");
  EXPECT_EQ(Parse({"streams"}).inspect.server_url, "grpc://localhost:8815");
  // copy's target has no default: the flag or the variable.
  ExpectUsageError({"copy", "--from", "grpc://a:1", "--table", "t"}, "--to");
}

TEST_F(CommandLineTest, ConnectWaitFromTheFlagOrItsVariableAndRefusedValuesSaySo) {
  ::setenv("ARROWPORT_CONNECT_WAIT", "2.5", 1);
  EXPECT_EQ(Parse({"tables"}).inspect.connect_wait, 2.5);
  EXPECT_EQ(Parse({"query", "SELECT 1"}).args.connect_wait, 2.5);
  EXPECT_EQ(Parse({"query", "SELECT 1", "--connect-wait", "7"}).args.connect_wait, 7);
  // CLI11 alone would pass over a refused variable and wait the default.
  ::setenv("ARROWPORT_CONNECT_WAIT", "abc", 1);
  ExpectUsageError({"tables"},
                   "ARROWPORT_CONNECT_WAIT=abc is not a valid value for --connect-wait");
  EXPECT_EQ(err_.str().rfind("arrowport: error: ", 0), 0u) << err_.str();
  ::unsetenv("ARROWPORT_CONNECT_WAIT");
  ExpectUsageError({"tables", "--connect-wait", "nan"}, "--connect-wait");
  ExpectUsageError({"tables", "--connect-wait", "3601"}, "--connect-wait");
  ExpectUsageError({"tables", "--connect-wait", "-1"}, "--connect-wait");
  EXPECT_EQ(Parse({"tables", "--connect-wait", "3600"}).inspect.connect_wait, 3600);
}

TEST_F(CommandLineTest, InspectFormats) {
  EXPECT_EQ(Parse({"tables"}).inspect.format, "");  // a table on a terminal
  const CommandLine line = Parse({"status", "-f", "json"});
  EXPECT_EQ(line.command, Command::kStatus);
  EXPECT_EQ(line.inspect.format, "json");
  ExpectUsageError({"streams", "--format", "xml"}, "--format");
}

TEST_F(CommandLineTest, QueryNeedsItsSql) {
  const CommandLine line = Parse({"query", "SELECT 42", "-f", "csv", "-o", "out.csv"});
  ASSERT_FALSE(line.exit_code.has_value()) << err_.str();
  EXPECT_EQ(line.command, Command::kQuery);
  EXPECT_EQ(line.args.sql, "SELECT 42");
  EXPECT_EQ(line.args.format, "csv");
  EXPECT_EQ(line.args.output, "out.csv");
  ExpectUsageError({"query"}, "sql");
}

TEST_F(CommandLineTest, ServeOptionsBecomeOverridesOnlyWhenGiven) {
  CommandLine line = Parse({"serve"});
  ASSERT_FALSE(line.exit_code.has_value()) << err_.str();
  EXPECT_EQ(line.command, Command::kServe);
  config::Overrides none = ServeOverrides(line.args);
  EXPECT_FALSE(none.db_path || none.flight_host || none.http_host || none.flight_port ||
               none.http_port || none.metrics_port || none.log_format || none.parquet_view);
  EXPECT_TRUE(none.parquet_files.empty());
  EXPECT_EQ(line.args.config_path, "");

  line = Parse({"serve", "-c", "a.yaml", "--db", ":memory:", "--host", "0.0.0.0",
                "--flight-port", "0", "--http-port", "9000", "--metrics-port", "9100",
                "--log-format", "json", "--parquet", "a.parquet", "--parquet", "b/*.parquet",
                "--view", "trips"});
  ASSERT_FALSE(line.exit_code.has_value()) << err_.str();
  EXPECT_EQ(line.args.config_path, "a.yaml");
  const config::Overrides given = ServeOverrides(line.args);
  EXPECT_EQ(given.db_path, ":memory:");
  EXPECT_EQ(given.flight_host, "0.0.0.0");  // --host: both listeners
  EXPECT_EQ(given.http_host, "0.0.0.0");
  EXPECT_EQ(given.flight_port, 0);  // 0 is a port given: any free one
  EXPECT_EQ(given.http_port, 9000);
  EXPECT_EQ(given.metrics_port, 9100);
  EXPECT_EQ(given.log_format, "json");
  EXPECT_EQ(given.parquet_files, (std::vector<std::string>{"a.parquet", "b/*.parquet"}));
  EXPECT_EQ(given.parquet_view, "trips");

  ::setenv("ARROWPORT_CONFIG", "from-env.yaml", 1);
  EXPECT_EQ(Parse({"serve"}).args.config_path, "from-env.yaml");
  EXPECT_EQ(Parse({"serve", "--config", "flag.yaml"}).args.config_path, "flag.yaml");
}

TEST_F(CommandLineTest, ServeUsageErrorsNameTheFlag) {
  ExpectUsageError({"serve", "--flight-port", "70000"}, "--flight-port");
  ExpectUsageError({"serve", "--http-port", "-2"}, "--http-port");
  ExpectUsageError({"serve", "--metrics-port", "65536"}, "--metrics-port");
  ExpectUsageError({"serve", "--log-format", "xml"}, "--log-format");
  ExpectUsageError({"serve", "--view", "trips"}, "--parquet");
  ExpectUsageError({"serve", "--flight-port", "eighty"}, "--flight-port");
}

TEST_F(CommandLineTest, CopyOptions) {
  CommandLine line = Parse({"copy", "--from", "grpc://a:1", "--to", "grpc://b:2", "--sql",
                            "SELECT 1", "--target", "t", "-m", "create", "--commit",
                            "per_batch"});
  ASSERT_FALSE(line.exit_code.has_value()) << err_.str();
  EXPECT_EQ(line.command, Command::kCopy);
  EXPECT_EQ(line.copy.from, "grpc://a:1");
  EXPECT_EQ(line.copy.to, "grpc://b:2");
  EXPECT_EQ(line.copy.sql, "SELECT 1");
  EXPECT_EQ(line.copy.target, "t");
  EXPECT_EQ(line.copy.mode, "create");
  EXPECT_EQ(line.copy.commit, "per_batch");
  EXPECT_EQ(line.copy.connect_wait, 10);
  ExpectUsageError({"copy", "--to", "grpc://b:2", "--table", "t"}, "--from");
  ExpectUsageError({"copy", "--from", "grpc://a:1", "--to", "grpc://b:2", "--table", "t",
                    "--sql", "SELECT 1"},
                   "--sql");
  ExpectUsageError({"copy", "--from", "grpc://a:1", "--to", "grpc://b:2", "-t", "t", "-m",
                    "merge"},
                   "--mode");
}

TEST_F(CommandLineTest, GenerateDefaultsAndErrors) {
  CommandLine line = Parse({"generate", "-o", "out.parquet"});
  ASSERT_FALSE(line.exit_code.has_value()) << err_.str();
  EXPECT_EQ(line.command, Command::kGenerate);
  EXPECT_EQ(line.args.rows, 1'000'000);
  EXPECT_EQ(line.args.seed, 42u);
  EXPECT_EQ(line.args.batch_rows, 65536);
  EXPECT_EQ(line.args.preset, "");
  line = Parse({"generate", "-o", "o.csv", "-n", "0", "--seed", "7", "--batch-rows", "10"});
  EXPECT_EQ(line.args.rows, 0);
  EXPECT_EQ(line.args.seed, 7u);
  EXPECT_EQ(line.args.batch_rows, 10);
  ExpectUsageError({"generate"}, "--output");
  ExpectUsageError({"generate", "-o", "o.csv", "-n", "-5"}, "--rows");
}

TEST_F(CommandLineTest, CredentialsComeFromArrowportUserAndPassword) {
  EXPECT_FALSE(CredentialsFromEnvironment().has_value());
  ::setenv("ARROWPORT_PASSWORD", "secret", 1);
  EXPECT_FALSE(CredentialsFromEnvironment().has_value());  // a password alone: no one
  ::setenv("ARROWPORT_USER", "", 1);
  EXPECT_FALSE(CredentialsFromEnvironment().has_value());
  ::setenv("ARROWPORT_USER", "alice", 1);
  auto credentials = CredentialsFromEnvironment();
  ASSERT_TRUE(credentials.has_value());
  EXPECT_EQ(credentials->user, "alice");
  EXPECT_EQ(credentials->password, "secret");
  ::unsetenv("ARROWPORT_PASSWORD");
  credentials = CredentialsFromEnvironment();
  ASSERT_TRUE(credentials.has_value());
  EXPECT_EQ(credentials->password, "");  // the server says whether that will do
}

}  // namespace command_line_test
}  // namespace arrowport::cli
