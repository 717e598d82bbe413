#include "arrowport/config/config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace arrowport::config {

namespace {
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

arrow::Result<std::string> ReadConfigFile(const std::string& path) {
  FileDescriptor file;
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer before the
  // type check below gets a chance to refuse it.
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (file.fd < 0) {
    return arrow::Status::IOError("cannot read config file '", path, "': ",
                                  std::strerror(errno));
  }
  // fstat on the open descriptor, not stat on the path: the file checked is the file read.
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) {
    return arrow::Status::IOError("cannot read config file '", path, "': ",
                                  std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    return arrow::Status::Invalid("config file '", path, "' is not a regular file");
  }
  if (info.st_size > kMaxConfigFileBytes) {
    return arrow::Status::Invalid("config file '", path, "' is larger than ",
                                  kMaxConfigFileBytes >> 20, " MiB");
  }
  std::string text;
  char buffer[64 * 1024];
  while (true) {
    const ssize_t n = ::read(file.fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return arrow::Status::IOError("cannot read config file '", path, "': ",
                                    std::strerror(errno));
    }
    if (n == 0) break;
    // Growing while being read (an editor or a log writing to it): still capped.
    if (static_cast<int64_t>(text.size()) + n > kMaxConfigFileBytes) {
      return arrow::Status::Invalid("config file '", path, "' is larger than ",
                                    kMaxConfigFileBytes >> 20, " MiB");
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace arrowport::config
