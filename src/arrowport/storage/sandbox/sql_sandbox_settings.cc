#include "arrowport/storage/sandbox/sql_sandbox_settings.h"

#include <filesystem>
#include <system_error>

#include "arrowport/common/identifier.h"

namespace arrowport::storage {

namespace {

// DuckDB compares allowed paths with the absolute path it is asked to open.
std::string Absolute(const std::string& path) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute.lexically_normal().string();
}

std::string ListLiteral(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += QuoteLiteral(items[i]);
  }
  return out + "]";
}

}  // namespace

SqlSandboxSettings SqlSandboxSettings::ForViews(
    const std::vector<std::pair<std::string, std::string>>& views) {
  SqlSandboxSettings settings;
  for (const auto& view : views) {
    const std::string& location = view.second;
    const auto wildcard = location.find_first_of("*?[{");
    if (wildcard == std::string::npos) {
      settings.allowed_paths_.push_back(Absolute(location));
      continue;
    }
    const auto slash = location.rfind('/', wildcard);
    const std::string directory =
        slash == std::string::npos ? "." : location.substr(0, slash == 0 ? 1 : slash);
    std::string absolute = Absolute(directory);
    if (absolute.empty() || absolute.back() != '/') absolute += '/';
    settings.allowed_directories_.push_back(absolute);
  }
  return settings;
}

std::vector<std::string> SqlSandboxSettings::Statements() const {
  std::vector<std::string> statements;
  if (!allowed_paths_.empty()) {
    statements.push_back("SET allowed_paths = " + ListLiteral(allowed_paths_));
  }
  if (!allowed_directories_.empty()) {
    statements.push_back("SET allowed_directories = " +
                         ListLiteral(allowed_directories_));
  }
  statements.push_back("SET enable_external_access = false");
  // DuckDB binds a nested literal in time that grows with the cube of its depth (a
  // 1.9 KB list 950 deep: 40 s), before any interrupt or timeout can reach it: nesting
  // stops where binding still takes seconds (see kMaxExpressionDepth). Set before the
  // lock, for every connection.
  statements.push_back("SET GLOBAL max_expression_depth = " +
                       std::to_string(kMaxExpressionDepth));
  statements.push_back("SET lock_configuration = true");
  return statements;
}

}  // namespace arrowport::storage
