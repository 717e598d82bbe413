#pragma once

#include <unistd.h>

#include <string>
#include <utility>

namespace arrowport {

/// \brief A local file being written that is removed when its owner goes, unless kept:
/// a copy, download or restore cut short leaves nothing that looks complete.
class StagedFile {
 public:
  explicit StagedFile(std::string path) : path_(std::move(path)) {}
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;
  ~StagedFile() {
    if (!kept_) ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  void Keep() { kept_ = true; }

 private:
  std::string path_;
  bool kept_ = false;
};

}  // namespace arrowport
