#include "arrowport/config/config_file.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace arrowport::config {

namespace {
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

// Linux's POSIX ACL extended attribute (linux/posix_acl_xattr.h): a version word, then
// entries of tag, permissions and id, little-endian.
constexpr uint32_t kAclVersion = 2;
constexpr uint16_t kAclUserObj = 0x01, kAclUser = 0x02, kAclGroupObj = 0x04,
                   kAclGroup = 0x08, kAclMask = 0x10, kAclOther = 0x20;
constexpr uint16_t kAclRead = 0x04;
struct AclEntry {
  uint16_t tag;
  uint16_t perm;
  uint32_t id;
};
static_assert(std::endian::native == std::endian::little,
              "ACL entries are little-endian");

std::string GroupName(uint32_t gid) {
  std::vector<char> buffer(16 * 1024);
  group entry{};
  group* found = nullptr;
  if (::getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) == 0 && found) {
    return "group '" + std::string(found->gr_name) + "'";
  }
  return "group " + std::to_string(gid);
}

void Add(std::string* list, const std::string& who) {
  *list += (list->empty() ? "" : ", ") + who;
}

// The readers an access ACL grants; false when the file has none (or the file system
// keeps none), so that its mode bits say it all.
bool AclReaders(int fd, const struct stat& info, FileReaders* readers) {
  const ssize_t size = ::fgetxattr(fd, "system.posix_acl_access", nullptr, 0);
  if (size <= 0) return false;
  std::vector<char> bytes(static_cast<size_t>(size));
  const ssize_t read =
      ::fgetxattr(fd, "system.posix_acl_access", bytes.data(), bytes.size());
  uint32_t version = 0;
  if (read < 4 || (read - 4) % sizeof(AclEntry) != 0) return false;
  std::memcpy(&version, bytes.data(), 4);
  if (version != kAclVersion) return false;
  std::vector<AclEntry> entries((read - 4) / sizeof(AclEntry));
  std::memcpy(entries.data(), bytes.data() + 4, entries.size() * sizeof(AclEntry));
  uint16_t mask = 0x7;  // no mask entry: the named entries are not limited
  for (const auto& entry : entries) {
    if (entry.tag == kAclMask) mask = entry.perm;
  }
  for (const auto& entry : entries) {
    // The mask limits every entry but the owner's and other's.
    const bool reads = (entry.perm & kAclRead) != 0 && (mask & kAclRead) != 0;
    switch (entry.tag) {
      case kAclUser:
        // Not the server's own user (systemd names it in its credential files' ACL).
        if (reads && entry.id != ::geteuid() && entry.id != info.st_uid) {
          Add(&readers->others, "user " + std::to_string(entry.id) + " (ACL)");
        }
        break;
      case kAclGroupObj:
        if (reads) Add(&readers->others, GroupName(info.st_gid));
        break;
      case kAclGroup:
        if (reads) Add(&readers->others, GroupName(entry.id) + " (ACL)");
        break;
      case kAclOther:
        readers->everyone = (entry.perm & kAclRead) != 0;
        break;
      case kAclUserObj:
      default:
        break;
    }
  }
  return true;
}

}  // namespace

arrow::Result<FileReaders> ReadersOf(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    return arrow::Status::IOError("cannot stat: ", std::strerror(errno));
  }
  FileReaders readers;
  readers.mode = info.st_mode & 07777;
  readers.owner = info.st_uid;
  if (!AclReaders(fd, info, &readers)) {
    readers.everyone = (info.st_mode & S_IROTH) != 0;
    if (info.st_mode & S_IRGRP) readers.others = GroupName(info.st_gid);
  }
  return readers;
}

arrow::Result<FileText> ReadFileAndReaders(const std::string& path, const std::string& what,
                                           int64_t max_bytes) {
  const std::string cannot = "cannot read " + what + ": ";
  const std::string too_large = what + " is larger than " +
      (max_bytes >= (int64_t{1} << 20) ? std::to_string(max_bytes >> 20) + " MiB"
                                       : std::to_string(max_bytes) + " bytes");
  FileDescriptor file;
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer before the
  // type check below gets a chance to refuse it.
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (file.fd < 0) return arrow::Status::IOError(cannot, std::strerror(errno));
  // fstat on the open descriptor, not stat on the path: the file checked is the file read.
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) return arrow::Status::IOError(cannot, std::strerror(errno));
  if (!S_ISREG(info.st_mode)) return arrow::Status::Invalid(what, " is not a regular file");
  if (info.st_size > max_bytes) return arrow::Status::Invalid(too_large);
  FileText out;
  auto readers = ReadersOf(file.fd);
  if (!readers.ok()) return arrow::Status::IOError(cannot, readers.status().message());
  out.readers = *readers;
  std::string& text = out.text;
  char buffer[64 * 1024];
  while (true) {
    const ssize_t n = ::read(file.fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return arrow::Status::IOError(cannot, std::strerror(errno));
    if (n == 0) break;
    // Growing while being read (an editor or a log writing to it): still capped.
    if (static_cast<int64_t>(text.size()) + n > max_bytes) {
      return arrow::Status::Invalid(too_large);
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

arrow::Result<std::string> ReadPrivateSecret(const std::string& path, const std::string& what) {
  // A key file longer than this is not a key (a wrong path: a log, a database).
  constexpr int64_t kMaxKeyFileBytes = 64 * 1024;
  ARROW_ASSIGN_OR_RAISE(auto file, ReadFileAndReaders(path, what, kMaxKeyFileBytes));
  // Its group and users an ACL names are others too (an ACL's grants show in the group
  // bits, not in the other bits).
  const auto& readers = file.readers;
  if (readers.everyone || !readers.others.empty() || (readers.mode & (S_IWGRP | S_IWOTH))) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(readers.mode));
    return arrow::Status::Invalid(
        what, " may be read or written by other users (mode ", mode,
        readers.others.empty() ? "" : "; readable by " + readers.others,
        "): make it private to the server's user, e.g. chmod 600 ", path,
        " (and remove any ACL: setfacl -b ", path, ")");
  }
  return std::move(file.text);
}

arrow::Result<FileText> ReadConfigFile(const std::string& path) {
  return ReadFileAndReaders(path, "config file '" + path + "'", kMaxConfigFileBytes);
}

}  // namespace arrowport::config
