#include "arrowport/config/views_section.h"

#include <glob.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "arrowport/common/identifier.h"

namespace arrowport::config {

namespace {

arrow::Status ViewError(const std::string& source, const std::string& key,
                        const std::string& reason) {
  return arrow::Status::Invalid(source.empty() ? "config" : source, ": key '", key,
                                "': ", reason);
}

// A scalar is one file or glob; a list is several, read as one view.
arrow::Result<std::vector<std::string>> Locations(const YAML::Node& node) {
  constexpr const char* kExpected = "expected a file or glob, or a list of them";
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (const auto& item : node) {
      if (!item.IsScalar()) return arrow::Status::Invalid(kExpected);
      out.push_back(item.Scalar());
    }
  } else {
    return arrow::Status::Invalid(kExpected);
  }
  if (out.empty()) return arrow::Status::Invalid("the list of files is empty");
  for (const auto& location : out) {
    if (location.empty()) {
      return arrow::Status::Invalid("a file or glob must not be empty");
    }
  }
  return out;
}

// glob(3)'s results, freed whatever happens.
struct GlobMatches {
  glob_t matches{};
  ~GlobMatches() { globfree(&matches); }
};

// What is wrong with one location (empty when nothing is). DuckDB's globs are checked by
// glob(3) only where the syntaxes agree: `**` (recursive) and `{a,b}` are DuckDB's own.
std::string LocationProblem(const std::string& location) {
  namespace fs = std::filesystem;
  if (location.find("://") != std::string::npos) return "";
  std::error_code ec;
  const auto wildcard = location.find_first_of("*?[{");
  if (wildcard == std::string::npos) {
    if (!fs::exists(location, ec)) return "'" + location + "': no such file";
    if (!fs::is_regular_file(location, ec)) return "'" + location + "' is not a file";
    if (::access(location.c_str(), R_OK) != 0) {
      return "'" + location + "' is not readable: " + std::strerror(errno);
    }
    return "";
  }
  const auto slash = location.rfind('/', wildcard);
  const std::string directory =
      slash == std::string::npos ? "." : location.substr(0, slash == 0 ? 1 : slash);
  if (!fs::is_directory(directory, ec)) {
    return "'" + location + "': no such directory '" + directory + "'";
  }
  const bool duckdb_only = location.find("**") != std::string::npos ||
                           location.find('{') != std::string::npos;
  if (duckdb_only) return "";
  GlobMatches found;
  if (::glob(location.c_str(), 0, nullptr, &found.matches) != 0 ||
      found.matches.gl_pathc == 0) {
    return "'" + location + "' matches no file";
  }
  return "";
}

}  // namespace

arrow::Status ParseViews(const YAML::Node& node, const std::string& source,
                         Config* config) {
  if (node.IsNull()) return arrow::Status::OK();
  if (!node.IsMap()) {
    return ViewError(source, "views", "expected a mapping of view names");
  }
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      return ViewError(source, "views", "a key must be a plain view name");
    }
    const std::string name = kv.first.Scalar();
    auto valid = ValidateName("view", name);
    if (!valid.ok()) return ViewError(source, "views." + name, valid.message());
    auto locations = Locations(kv.second);
    if (!locations.ok()) {
      return ViewError(source, "views." + name, locations.status().message());
    }
    config->views[name] = std::move(*locations);
  }
  return arrow::Status::OK();
}

arrow::Status ApplyParquetOverride(const Overrides& overrides, Config* config) {
  if (overrides.parquet_files.empty()) {
    if (overrides.parquet_view) return arrow::Status::Invalid("--view needs --parquet");
    return arrow::Status::OK();
  }
  const std::string name = overrides.parquet_view.value_or(kDefaultParquetView);
  auto valid = ValidateName("view", name);
  if (!valid.ok()) return arrow::Status::Invalid("--view: ", valid.message());
  for (const auto& location : overrides.parquet_files) {
    if (location.empty()) {
      return arrow::Status::Invalid("--parquet: a file must not be empty");
    }
  }
  config->views[name] = overrides.parquet_files;
  return arrow::Status::OK();
}

arrow::Status CheckViewFiles(const Config& config, const Overrides& overrides) {
  const std::string parquet_view = overrides.parquet_view.value_or(kDefaultParquetView);
  const std::string source = config.source.empty() ? "config" : config.source;
  for (const auto& [name, locations] : config.views) {
    for (const auto& location : locations) {
      const std::string problem = LocationProblem(location);
      if (problem.empty()) continue;
      if (!overrides.parquet_files.empty() && name == parquet_view) {
        return arrow::Status::Invalid("--parquet: ", problem);
      }
      return ViewError(source, "views." + name, problem);
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::config
