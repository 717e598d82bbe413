#include "arrowport/test_support/minio_server.h"

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
#include <string_view>
#include <thread>
#include <vector>

#include "arrowport/objectstore/s3_store.h"

extern char** environ;

namespace arrowport::test_support {

using objectstore::S3Store;


int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool bound =
      ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  return bound ? ntohs(address.sin_port) : 0;
}

std::string MinioServer::FindBinary() {
  if (const char* path = std::getenv("ARROWPORT_MINIO"); path != nullptr && *path != '\0') {
    return ::access(path, X_OK) == 0 ? path : "";
  }
  std::vector<std::string> candidates = {"/var/cache/arrowport/go/bin/minio"};
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');) candidates.push_back(dir + "/minio");
  }
  for (const auto& candidate : candidates) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

arrow::Result<std::unique_ptr<MinioServer>> MinioServer::Start(const std::string& binary,
                                                               const std::string& user,
                                                               const std::string& secret,
                                                               const std::string& bucket) {
  std::unique_ptr<MinioServer> minio(new MinioServer());
  std::string pattern = (std::filesystem::temp_directory_path() / "arrowport-minio-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return arrow::Status::IOError("mkdtemp: ", std::strerror(errno));
  }
  minio->dir_ = pattern;
  minio->user_ = user;
  minio->secret_ = secret;
  minio->port_ = FreeLoopbackPort();
  minio->endpoint_ = "http://127.0.0.1:" + std::to_string(minio->port_);
  // Everything the child needs is built before fork: after it, only async-signal-safe
  // calls until execve.
  std::vector<std::string> env = {"MINIO_ROOT_USER=" + user, "MINIO_ROOT_PASSWORD=" + secret,
                                  "MINIO_BROWSER=off", "MINIO_DOMAIN=localhost"};
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!std::string_view(*entry).starts_with("MINIO_")) env.emplace_back(*entry);
  }
  std::vector<char*> envp;
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = {binary,      "server", minio->dir_ + "/data",
                                   "--address", "127.0.0.1:" + std::to_string(minio->port_),
                                   "--quiet"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string log = minio->dir_ + "/minio.log";
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (log_fd < 0) return arrow::Status::IOError("cannot create ", log, ": ", std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Dies with this process, even one that crashed before stopping it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execve(binary.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (pid < 0) return arrow::Status::IOError("cannot start ", binary, ": ", std::strerror(errno));
  minio->pid_ = pid;
  ARROW_RETURN_NOT_OK(minio->AwaitBucket(bucket));
  return minio;
}

// Creates the bucket with the store's own client once MinIO answers.
arrow::Status MinioServer::AwaitBucket(const std::string& bucket) {
  S3Settings settings = Settings();
  settings.retries = 0;
  settings.timeout_ms = 2000;
  ARROW_ASSIGN_OR_RAISE(auto store, S3Store::Make(bucket, "", settings));
  arrow::Status status;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    status = store->CreateBucket();
    if (status.ok()) return status;
    // Not listening yet, or answering 503 while it initialises: wait; else give up.
    const std::string text = status.ToString();
    if (text.find("cannot reach") == std::string::npos &&
        text.find("503") == std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::ifstream log(dir_ + "/minio.log");
  std::stringstream text;
  text << log.rdbuf();
  return arrow::Status::IOError("MinIO did not come up: ", status.ToString(), "\nlog:\n",
                                text.str());
}

S3Settings MinioServer::Settings() const {
  S3Settings settings;
  settings.endpoint = endpoint_;
  settings.access_key_id = user_;
  settings.secret_access_key = secret_;
  settings.part_bytes = int64_t{5} << 20;
  settings.timeout_ms = 10000;
  settings.retries = 2;
  return settings;
}

MinioServer::~MinioServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

}  // namespace arrowport::test_support
