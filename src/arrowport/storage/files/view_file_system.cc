// A DuckDB file system serving the configured views' files under `arrowport-view://`:
// DuckDB's own sandbox (allowed_directories) lets SQL reach that prefix and no local
// folder, and this file system opens only the files the views' globs match. Allowing a
// glob's folder instead let SQL read anything in it (`FROM 'data/secret.csv'`,
// `COPY t FROM 'data/sub/x.parquet'`).
#include "arrowport/storage/files/view_file_system.h"

#include <duckdb/common/exception.hpp>
#include <duckdb/common/file_opener.hpp>
#include <duckdb/common/file_system.hpp>
#include <duckdb/common/memory_mapped_file.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/database.hpp>

#include <fnmatch.h>

#include <filesystem>
#include <system_error>

namespace arrowport::storage {

namespace {

std::string Normal(const std::string& path) {
  return std::filesystem::path(path).lexically_normal().string();
}

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool MatchFrom(const std::vector<std::string>& pattern, size_t p,
               const std::vector<std::string>& file, size_t f) {
  if (p == pattern.size()) return f == file.size();
  if (pattern[p] == "**") {
    // Any number of directories, none included (as DuckDB's crawl).
    for (size_t next = f; next <= file.size(); ++next) {
      if (MatchFrom(pattern, p + 1, file, next)) return true;
    }
    return false;
  }
  if (f == file.size()) return false;
  // `*`, `?` and `[...]` within one segment, as DuckDB's glob (whose matcher is not in
  // its installed headers).
  if (fnmatch(pattern[p].c_str(), file[f].c_str(), 0) != 0) return false;
  return MatchFrom(pattern, p + 1, file, f + 1);
}

class ViewFileSystem : public duckdb::FileSystem {
 public:
  // (view name, absolute normal file or glob) pairs.
  using Patterns = std::vector<std::pair<std::string, std::string>>;
  explicit ViewFileSystem(Patterns patterns)
      : patterns_(std::move(patterns)), local_(duckdb::FileSystem::CreateLocal()) {}

  std::string GetName() const override { return "ArrowportViewFileSystem"; }
  bool CanHandleFile(const std::string& path) override {
    return path.rfind(kViewPathPrefix, 0) == 0;
  }

  duckdb::unique_ptr<duckdb::FileHandle> OpenFile(
      const std::string& path, duckdb::FileOpenFlags flags,
      duckdb::optional_ptr<duckdb::FileOpener> /*opener*/) override {
    // The local file system's own handle: reads go straight to it.
    return local_->OpenFile(Readable(path, flags), flags);
  }
  duckdb::unique_ptr<duckdb::MemoryMappedFile> MemoryMapFile(
      const duckdb::OpenFileInfo& path, duckdb::FileOpenFlags flags,
      const duckdb::MMapOptions& options,
      duckdb::optional_ptr<duckdb::FileOpener> /*opener*/) override {
    return local_->MemoryMapFile(duckdb::OpenFileInfo(Readable(path.path, flags)), flags,
                                 options);
  }
  bool FileExists(const std::string& filename,
                  duckdb::optional_ptr<duckdb::FileOpener> /*opener*/) override {
    const std::string file = LocalPath(filename);
    return Matches(file) && local_->FileExists(file);
  }
  bool IsPipe(const std::string&, duckdb::optional_ptr<duckdb::FileOpener>) override {
    return false;
  }
  duckdb::vector<duckdb::OpenFileInfo> Glob(const std::string& path,
                                            duckdb::FileOpener* /*opener*/) override {
    duckdb::vector<duckdb::OpenFileInfo> out;
    bool refused = false;
    for (auto& found : local_->Glob(LocalPath(path))) {
      const std::string file = Normal(found.path);
      if (Matches(file)) {
        out.emplace_back(kViewPathPrefix + file);
      } else {
        refused = true;
      }
    }
    // Files there, none of them the views': say so rather than "no files found".
    if (out.empty() && refused) throw Refused(path);
    if (out.empty()) ThrowIfViewGone(path);
    return out;
  }

 private:
  // The absolute, normal local path a view path names.
  static std::string LocalPath(const std::string& path) {
    std::string local = path.substr(std::string(kViewPathPrefix).size());
    if (local.empty() || local.front() != '/') {
      throw duckdb::PermissionException("Cannot access file \"" + path +
                                        "\": not an absolute path");
    }
    return Normal(local);
  }

  bool Matches(const std::string& file) const {
    for (const auto& [view, pattern] : patterns_) {
      if (ViewPatternMatches(pattern, file)) return true;
    }
    return false;
  }

  // A view's own file or glob that matches nothing: DuckDB's "No files found that match
  // the pattern" (an internal error, naming a path no user wrote) becomes what happened,
  // which view it is, and what to do (NOT_FOUND, 404).
  void ThrowIfViewGone(const std::string& path) const {
    const std::string local = LocalPath(path);
    for (const auto& [view, pattern] : patterns_) {
      if (pattern != local) continue;
      throw duckdb::CatalogException(
          "view \"" + view + "\" (views." + view + ") reads " + local +
          ", where no file is now (deleted or moved while the server ran): put the files "
          "back, or take the view out of the config's views: and restart the server");
    }
  }

  std::string Readable(const std::string& path, duckdb::FileOpenFlags flags) const {
    if (flags.OpenForWriting()) {
      throw duckdb::PermissionException("Cannot write file \"" + path +
                                        "\": the configured views' files are read-only");
    }
    std::string file = LocalPath(path);
    if (!Matches(file)) throw Refused(path);
    return file;
  }

  static duckdb::PermissionException Refused(const std::string& path) {
    return duckdb::PermissionException(
        "Cannot access file \"" + path + "\": SQL reads the files the configured views "
        "(views:) name or their globs match, and this is none of them");
  }

  const Patterns patterns_;
  const duckdb::unique_ptr<duckdb::FileSystem> local_;
};

}  // namespace

std::string ViewPathOf(const std::string& location) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(location, ec);
  return kViewPathPrefix + (ec ? Normal(location) : absolute.lexically_normal().string());
}

bool ViewPatternMatches(const std::string& pattern, const std::string& file) {
  if (pattern == file) return true;
  if (!duckdb::FileSystem::HasGlob(pattern)) return false;
  return MatchFrom(Segments(pattern), 0, Segments(file), 0);
}

void RegisterViewFileSystem(
    duckdb_database database,
    const std::vector<std::pair<std::string, std::string>>& views) {
  const size_t prefix = std::string(kViewPathPrefix).size();
  ViewFileSystem::Patterns patterns;
  for (const auto& [view, location] : views) {
    patterns.emplace_back(view, ViewPathOf(location).substr(prefix));
  }
  auto* wrapper = reinterpret_cast<duckdb::DatabaseWrapper*>(database);
  auto& fs = duckdb::FileSystem::GetFileSystem(*wrapper->database->instance);
  fs.RegisterSubSystem(duckdb::make_uniq<ViewFileSystem>(std::move(patterns)));
}

}  // namespace arrowport::storage
