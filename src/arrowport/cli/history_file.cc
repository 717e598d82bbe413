#include "arrowport/cli/history_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "arrowport/cli/terminal_text.h"
#include "arrowport/common/file_descriptor.h"

namespace arrowport::cli {

namespace {

constexpr const char* kCookie = "_HiStOrY_V2_";
// A history file larger than this is read from its end only.
constexpr off_t kMaxRead = off_t{16} << 20;

bool WriteAll(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    const ssize_t wrote = ::write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    done += static_cast<size_t>(wrote);
  }
  return true;
}

int OctalDigit(char c) { return c >= '0' && c <= '7' ? c - '0' : -1; }

}  // namespace

std::string HistoryFile::Encode(const std::string& entry) {
  std::string line;
  for (const char ch : entry) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      line += "\\\\";
    } else if (c <= ' ' || c == 0x7F) {
      const char octal[] = {'\\', static_cast<char>('0' + (c >> 6)),
                            static_cast<char>('0' + ((c >> 3) & 7)),
                            static_cast<char>('0' + (c & 7))};
      line.append(octal, sizeof(octal));
    } else {
      line += ch;  // UTF-8 stays as it is, as libedit keeps printable characters
    }
  }
  return line;
}

// What libedit's strunvis reads back of what its strvis wrote: octal (\040), `\\`,
// controls (\^J, \^?), meta (\M-x, \M^X) and C escapes (\n, \s, \E).
std::string HistoryFile::Decode(const std::string& line) {
  std::string entry;
  for (size_t i = 0; i < line.size();) {
    if (line[i] != '\\' || i + 1 == line.size()) {
      entry += line[i++];
      continue;
    }
    ++i;
    if (OctalDigit(line[i]) >= 0) {
      int value = 0;
      for (int digits = 0; digits < 3 && i < line.size() && OctalDigit(line[i]) >= 0;
           ++digits) {
        value = value * 8 + OctalDigit(line[i++]);
      }
      entry += static_cast<char>(value & 0xFF);
      continue;
    }
    int meta = 0;
    if (line[i] == 'M' && i + 2 < line.size() && (line[i + 1] == '-' || line[i + 1] == '^')) {
      meta = 0x80;
      ++i;
      if (line[i] == '-') {
        entry += static_cast<char>(meta | static_cast<unsigned char>(line[i + 1]));
        i += 2;
        continue;
      }
    }
    if (line[i] == '^' && i + 1 < line.size()) {
      const char c = line[i + 1];
      entry += static_cast<char>(meta | (c == '?' ? 0x7F : (c & 0x1F)));
      i += 2;
      continue;
    }
    static const std::string kFrom = "nrtbavfsE", kTo = "\n\r\t\b\a\v\f \x1b";
    const auto known = kFrom.find(line[i]);
    entry += known != std::string::npos ? kTo[known] : line[i];
    ++i;
  }
  return entry;
}

void HistoryFile::Stop(const std::string& why) {
  const std::string text = "arrowport: history not kept: " + path_ + ": " + why + "\n";
  std::fputs(ForTerminal(text, STDERR_FILENO).c_str(), stderr);
  path_.clear();
}

int HistoryFile::OpenLocked(int flags) {
  if (path_.empty()) return -1;
  // O_NONBLOCK: a FIFO put there must not hold the shell (it is refused below).
  const int fd = ::open(path_.c_str(),
                        flags | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
  if (fd < 0) {
    Stop(errno == ELOOP ? std::string("it is a symbolic link") : std::strerror(errno));
    return -1;
  }
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    Stop("it is not a regular file");
    return -1;
  }
  if ((info.st_mode & 0077) != 0 && ::fchmod(fd, 0600) != 0) {
    ::close(fd);
    Stop(std::string("cannot make it private (0600): ") + std::strerror(errno));
    return -1;
  }
  while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  return fd;
}

std::vector<std::string> HistoryFile::Load(size_t keep) {
  FileDescriptor file(OpenLocked(O_RDWR));
  if (file.get() < 0) return {};
  struct stat info;
  if (::fstat(file.get(), &info) != 0) return {};
  const off_t from = std::max<off_t>(0, info.st_size - kMaxRead);
  std::string text(static_cast<size_t>(info.st_size - from), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::pread(file.get(), text.data() + got, text.size() - got,
                              from + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    const size_t end = std::min(text.find('\n', start), text.size());
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  // A file read from its middle starts with a part of a line; libedit's starts with a
  // cookie line.
  if (from > 0 && !lines.empty()) lines.erase(lines.begin());
  if (!lines.empty() && lines.front() == kCookie) lines.erase(lines.begin());
  const size_t first = lines.size() > keep ? lines.size() - keep : 0;
  std::vector<std::string> entries;
  for (size_t i = first; i < lines.size(); ++i) entries.push_back(Decode(lines[i]));
  if (first > 0 || from > 0 || info.st_size == 0) {
    std::string kept = std::string(kCookie) + "\n";
    for (size_t i = first; i < lines.size(); ++i) kept += lines[i] + "\n";
    if (::ftruncate(file.get(), 0) != 0 || ::lseek(file.get(), 0, SEEK_SET) != 0 ||
        !WriteAll(file.get(), kept)) {
      Stop(std::string("cannot write it: ") + std::strerror(errno));
    }
  }
  return entries;
}

void HistoryFile::Append(const std::string& entry) {
  FileDescriptor file(OpenLocked(O_WRONLY | O_APPEND));
  if (file.get() < 0) return;
  struct stat info;
  std::string text = Encode(entry) + "\n";
  if (::fstat(file.get(), &info) == 0 && info.st_size == 0) text = kCookie + ("\n" + text);
  if (!WriteAll(file.get(), text)) Stop(std::string("cannot write it: ") + std::strerror(errno));
}

}  // namespace arrowport::cli
