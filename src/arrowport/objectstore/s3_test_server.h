#pragma once

// Test support (header only, never in the library): a MinIO server for the S3 tests.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "arrowport/objectstore/s3_store.h"

extern char** environ;

namespace arrowport::objectstore::s3test {

inline constexpr char kUser[] = "arrowport-test";
inline constexpr char kSecret[] = "arrowport-test-secret-9f8e7d";
inline constexpr char kBucket[] = "lake";

inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

/// ARROWPORT_MINIO, the toolchain's `go install` location, or `minio` on PATH; "" if
/// none.
inline std::string MinioBinary() {
  if (const char* path = std::getenv("ARROWPORT_MINIO");
      path != nullptr && *path != '\0') {
    return ::access(path, X_OK) == 0 ? path : "";
  }
  std::vector<std::string> candidates = {"/var/cache/arrowport/go/bin/minio"};
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');)
      candidates.push_back(dir + "/minio");
  }
  for (const auto& candidate : candidates) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

/// A MinIO server on a free loopback port and a temporary directory, for the whole suite.
struct Minio {
  pid_t pid = -1;
  int port = 0;
  std::string dir;
  std::string endpoint;

  std::string Start(const std::string& binary) {
    char pattern[] = "/tmp/arrowport-minio-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) return "mkdtemp failed";
    dir = pattern;
    port = FreePort();
    endpoint = "http://127.0.0.1:" + std::to_string(port);
    const std::string address = "127.0.0.1:" + std::to_string(port);
    const std::string data = dir + "/data";
    std::vector<std::string> env = {std::string("MINIO_ROOT_USER=") + kUser,
                                    std::string("MINIO_ROOT_PASSWORD=") + kSecret,
                                    "MINIO_BROWSER=off", "MINIO_DOMAIN=localhost"};
    for (char** entry = environ; *entry != nullptr; ++entry) {
      if (std::string_view(*entry).starts_with("MINIO_")) continue;
      env.emplace_back(*entry);
    }
    std::vector<char*> envp;
    for (auto& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = {binary,      "server", data,
                                     "--address", address,  "--quiet"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string log = dir + "/minio.log";
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (log_fd < 0) return "cannot create " + log + ": " + std::strerror(errno);
    const pid_t parent = ::getpid();
    pid = ::fork();
    if (pid == 0) {  // only async-signal-safe calls until execve
      // Dies with the test process, even one that crashed before stopping it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execve(binary.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(log_fd);
    if (pid < 0) return "cannot start " + binary + ": " + std::strerror(errno);
    return AwaitBucket();
  }

  // Creates the bucket with the store's own client once MinIO answers.
  std::string AwaitBucket() {
    S3Settings settings = Settings();
    settings.retries = 0;
    settings.timeout_ms = 2000;
    auto store = S3Store::Make(kBucket, "", settings).ValueOrDie();
    arrow::Status status;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      status = store->CreateBucket();
      if (status.ok()) return "";
      // Not listening yet, or answering 503 while it initialises: wait; else give up.
      const std::string text = status.ToString();
      if (text.find("cannot reach") == std::string::npos &&
          text.find("503") == std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::ifstream log(dir + "/minio.log");
    std::stringstream text;
    text << log.rdbuf();
    return "MinIO did not come up: " + status.ToString() + "\nlog:\n" + text.str();
  }

  S3Settings Settings() const {
    S3Settings settings;
    settings.endpoint = endpoint;
    settings.access_key_id = kUser;
    settings.secret_access_key = kSecret;
    settings.part_bytes = int64_t{5} << 20;
    settings.timeout_ms = 10000;
    settings.retries = 2;
    return settings;
  }

  ~Minio() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (::kill(pid, 0) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
      }
    }
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

/// The MinIO server every S3 test of this process shares, started on first use and
/// stopped at exit; null when there is no binary. `error`: why it failed to start.
inline Minio* SharedMinio(std::string* error) {
  static const std::string binary = MinioBinary();
  if (binary.empty()) return nullptr;
  static Minio minio;
  static const std::string start_error = minio.Start(binary);
  *error = start_error;
  return &minio;
}

inline constexpr char kNoMinio[] =
    "no MinIO binary: set ARROWPORT_MINIO, put minio on PATH, or `go install "
    "github.com/minio/minio@latest` into /var/cache/arrowport/go/bin";

/// A test against the shared MinIO (skipped without one), with a store on its own prefix
/// of the bucket.
class MinioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    minio_ = SharedMinio(&error);
    if (minio_ == nullptr) GTEST_SKIP() << kNoMinio;
    ASSERT_TRUE(error.empty()) << error;
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = std::string(test->test_suite_name()) + "/" + test->name();
    store_ = Open(minio_->Settings());
  }

  std::shared_ptr<S3Store> Open(const S3Settings& settings,
                                const std::string& bucket = kBucket) const {
    auto store = S3Store::Make(bucket, prefix_, settings);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? *store : nullptr;
  }

  Minio* minio_ = nullptr;
  std::string prefix_;
  std::shared_ptr<S3Store> store_;
};

}  // namespace arrowport::objectstore::s3test
