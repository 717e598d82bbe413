#include "arrowport/objectstore/local_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

#include "arrowport/objectstore/object_store.h"

namespace arrowport::objectstore {

namespace {

std::string RandomSuffix() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  uint64_t bits = (uint64_t{device()} << 32) ^ device();
  std::string suffix(16, '0');
  for (char& c : suffix) {
    c = kHex[bits & 0xf];
    bits >>= 4;
  }
  return suffix;
}

// Creates `dir` and missing parents, each made durable in its parent (the first commit
// of a new table directory must survive a crash as well as the file in it).
arrow::Status MakeDirectories(const std::string& dir) {
  struct stat info{};
  if (::stat(dir.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) return arrow::Status::OK();
    return arrow::Status::IOError("cannot create directory ", dir,
                                  ": an object (file) of that name exists");
  }
  if (errno != ENOENT) return ErrnoError("create directory", dir, errno);
  const std::string parent = dir.substr(0, dir.rfind('/'));
  if (!parent.empty()) ARROW_RETURN_NOT_OK(MakeDirectories(parent));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("create directory", dir, errno);
  }
  return SyncDirectory(parent.empty() ? "/" : parent);
}

}  // namespace

arrow::Status ErrnoError(std::string_view verb, const std::string& path, int error) {
  return arrow::Status::IOError("cannot ", verb, " ", path, ": ", std::strerror(error));
}

arrow::Result<TempFile> TempFile::Create(const std::string& dir) {
  // A concurrent Delete may remove an emptied parent directory between our mkdir and
  // open (ENOENT): creating the directories again settles it.
  for (int attempt = 0;; ++attempt) {
    ARROW_RETURN_NOT_OK(MakeDirectories(dir));
    std::string path = dir + "/" + std::string(kTempFilePrefix) + RandomSuffix();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) return TempFile(fd, dir, std::move(path));
    const int error = errno;
    if ((error == ENOENT || error == EEXIST) && attempt < 8) continue;
    return ErrnoError("create a file in", dir, error);
  }
}

TempFile::TempFile(TempFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      dir_(std::move(other.dir_)),
      path_(std::exchange(other.path_, std::string())) {}

TempFile& TempFile::operator=(TempFile&& other) noexcept {
  if (this != &other) {
    Discard();
    fd_ = std::exchange(other.fd_, -1);
    dir_ = std::move(other.dir_);
    path_ = std::exchange(other.path_, std::string());
  }
  return *this;
}

TempFile::~TempFile() { Discard(); }

void TempFile::Discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
}

arrow::Status TempFile::Write(const void* data, int64_t size) {
  if (fd_ < 0) return arrow::Status::Invalid("write to a closed temporary file");
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, bytes, static_cast<size_t>(size));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write", path_, errno);
    bytes += n;
    size -= n;
  }
  return arrow::Status::OK();
}

arrow::Status TempFile::SyncAndClose() {
  if (fd_ < 0) return arrow::Status::Invalid("temporary file already closed");
  if (::fsync(fd_) != 0) return ErrnoError("fsync", path_, errno);
  const int fd = std::exchange(fd_, -1);
  // close() can report a delayed write error (NFS): the data is then not safe.
  if (::close(fd) != 0) return ErrnoError("close", path_, errno);
  return arrow::Status::OK();
}

arrow::Status TempFile::Commit(const std::string& path) {
  ARROW_RETURN_NOT_OK(SyncAndClose());
  if (::rename(path_.c_str(), path.c_str()) != 0) {
    return ErrnoError("rename a temporary file to", path, errno);
  }
  path_.clear();
  return SyncDirectory(dir_);
}

arrow::Status TempFile::CommitIfAbsent(const std::string& path, const std::string& key) {
  ARROW_RETURN_NOT_OK(SyncAndClose());
  if (::link(path_.c_str(), path.c_str()) != 0) {
    const int error = errno;
    Discard();
    if (error == EEXIST) return AlreadyExists(key);
    return ErrnoError("link a temporary file to", path, error);
  }
  Discard();
  return SyncDirectory(dir_);
}

arrow::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", dir, errno);
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) return ErrnoError("fsync directory", dir, error);
  return arrow::Status::OK();
}

}  // namespace arrowport::objectstore
