#include "arrowport/config/lake_section.h"

#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "arrowport/common/identifier.h"
#include "arrowport/config/config_keys.h"

namespace arrowport::config {

namespace {

arrow::Status LakeKeyError(const std::string& source, const std::string& key,
                           const std::string& reason) {
  return arrow::Status::Invalid(source.empty() ? "config" : source, ": key '", key, "': ",
                                reason);
}

arrow::Status CheckUrl(const std::string& url) {
  if (url.rfind("s3://", 0) == 0) {
    const std::string rest = url.substr(5);
    const std::string bucket = rest.substr(0, rest.find('/'));
    if (bucket.empty()) return arrow::Status::Invalid("an s3:// URL needs a bucket");
    if (rest.find("..") != std::string::npos) {
      return arrow::Status::Invalid("the URL must not contain '..'");
    }
    return arrow::Status::OK();
  }
  if (url.rfind("file:///", 0) == 0) {
    if (url.find("/../") != std::string::npos || url.size() < 9) {
      return arrow::Status::Invalid("a file:// URL needs an absolute directory without '..'");
    }
    return arrow::Status::OK();
  }
  return arrow::Status::Invalid("must be s3://bucket/prefix or file:///absolute/dir, got '",
                                url, "'");
}

arrow::Result<int64_t> Bounded(const std::string& text, int64_t min, int64_t max) {
  ARROW_ASSIGN_OR_RAISE(auto n, ParseInt(text));
  if (n < min || n > max) return arrow::Status::Invalid("must be ", min, "..", max, ", got ", n);
  return n;
}

}  // namespace

// "sqlite:PATH" or "postgres:CONNINFO" (the connection string is checked on connecting).
arrow::Status CheckCatalog(const std::string& value) {
  if (value.find('\0') != std::string::npos) return arrow::Status::Invalid("holds a NUL byte");
  if (value.rfind("sqlite:", 0) == 0 && value.size() > 7) return arrow::Status::OK();
  if (value.rfind("postgres:", 0) == 0 && value.size() > 9) return arrow::Status::OK();
  return arrow::Status::Invalid("must be sqlite:PATH or postgres:CONNINFO");
}

// A DuckLake data path as its catalog records it: "/abs/dir/" or "s3://bucket/prefix/".
arrow::Result<std::string> DataPathOf(std::string value) {
  if (value.rfind("file://", 0) == 0) value = value.substr(7);
  if (value.empty()) return arrow::Status::Invalid("must be a directory or s3://bucket/prefix");
  if (value[0] != '/' && value.find("://") == std::string::npos) {
    // Relative to where the server starts (the catalog records it absolute).
    std::error_code error;
    const auto absolute = std::filesystem::absolute(value, error).lexically_normal();
    if (error) return arrow::Status::Invalid("cannot make '", value, "' absolute: ", error.message());
    value = absolute.string();
  }
  if (value[0] != '/' && value.rfind("s3://", 0) != 0) {
    return arrow::Status::Invalid("must be a directory or s3://bucket/prefix, got '", value, "'");
  }
  if (value.back() != '/') value += '/';
  ARROW_RETURN_NOT_OK(CheckUrl(value[0] == '/' ? "file://" + value : value));
  return value;
}

arrow::Result<Sink> ParseSink(const std::string& text) {
  if (text == "table") return Sink::kTable;
  if (text == "lake" || text == "ducklake") return Sink::kLake;
  return arrow::Status::Invalid("sink must be table, lake or ducklake, got '", text, "'");
}

const char* ToString(Sink sink) { return sink == Sink::kLake ? "lake" : "table"; }

// One scalar key of a lake section into `lake`; KeyError for an unknown key.
arrow::Status ParseLakeKey(const std::string& key, const std::string& value, bool ducklake,
                           LakeConfig* lake) {
  arrow::Status st;
  auto set = [&st, &value](int64_t* field, int64_t min, int64_t max) {
    auto n = Bounded(value, min, max);
    st = n.status();
    if (n.ok()) *field = *n;
  };
  if (key == "url" && !ducklake) {
    st = CheckUrl(value);
    lake->url = value;
  } else if (key == "catalog" && ducklake) {
    st = CheckCatalog(value);
    lake->catalog = value;
  } else if (key == "data_path" && ducklake) {
    auto path = DataPathOf(value);
    st = path.status();
    if (path.ok()) lake->data_path = *path;
  } else if ((key == "schema" || key == "table") && ducklake) {
    st = ValidateName(key, value);
    (key == "schema" ? lake->schema : lake->table) = value;
  } else if (key == "merge_small_files" && ducklake) {
    auto parsed = ParseBool(value);
    st = parsed.status();
    if (parsed.ok()) lake->merge_small_files = *parsed;
  } else if (key == "checkpoint_interval" && ducklake) {
    st = arrow::Status::Invalid("a DuckLake has no checkpoints (its catalog is a database)");
  } else if (key == "target_file_mb") {
    set(&lake->target_file_mb, 1, 4096);
  } else if (key == "compression") {
    if (value != "zstd" && value != "snappy" && value != "gzip" && value != "lz4" &&
        value != "none") {
      st = arrow::Status::Invalid("must be zstd, snappy, gzip, lz4 or none, got '", value, "'");
    }
    lake->compression = value;
  } else if (key == "delta_encodings") {
    auto parsed = ParseBool(value);
    st = parsed.status();
    if (parsed.ok()) lake->delta_encodings = *parsed;
  } else if (key == "checkpoint_interval") {
    set(&lake->checkpoint_interval, 0, 1000000);
  } else if (key == "retention_s") {
    set(&lake->retention_s, 0, int64_t{10} * 365 * 86400);
  } else if (key == "compaction_interval_s") {
    set(&lake->compaction_interval_s, 0, 86400);
  } else if (key == "max_commit_attempts") {
    set(&lake->max_commit_attempts, 1, 100000);
  } else if (key == "refresh_ms") {
    set(&lake->refresh_ms, 10, 3600000);
  } else if (ducklake) {
    return arrow::Status::KeyError(
        "unknown key (known: catalog, data_path, schema, table, partition_by, "
        "target_file_mb, compression, delta_encodings, retention_s, "
        "compaction_interval_s, max_commit_attempts, refresh_ms)");
  } else {
    return arrow::Status::KeyError(
        "unknown key (known: url, partition_by, target_file_mb, compression, "
        "delta_encodings, checkpoint_interval, retention_s, compaction_interval_s, "
        "max_commit_attempts, refresh_ms)");
  }
  return st;
}

arrow::Status ParseLakeSection(const YAML::Node& node, const std::string& prefix,
                               const std::string& source, LakeConfig* lake,
                               bool ducklake) {
  if (!node.IsMap()) return LakeKeyError(source, prefix, "expected a mapping");
  if (ducklake) lake->format = LakeFormat::kDuckLake;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return LakeKeyError(source, prefix, "a key must be a plain name");
    const std::string key = kv.first.Scalar();
    const std::string full = prefix + "." + key;
    if (key == "partition_by") {
      if (!kv.second.IsSequence()) return LakeKeyError(source, full, "expected a list of columns");
      lake->partition_by.clear();
      for (const auto& item : kv.second) {
        if (!item.IsScalar() || item.Scalar().empty()) {
          return LakeKeyError(source, full, "expected a list of column names");
        }
        lake->partition_by.push_back(item.Scalar());
      }
      continue;
    }
    if (!kv.second.IsScalar()) return LakeKeyError(source, full, "expected a scalar value");
    auto st = ParseLakeKey(key, kv.second.Scalar(), ducklake, lake);
    if (st.IsKeyError()) return LakeKeyError(source, full, st.message());
    if (!st.ok()) return LakeKeyError(source, full, st.message());
  }
  if (ducklake) {
    if (lake->catalog.empty()) {
      return LakeKeyError(source, prefix + ".catalog",
                          "a DuckLake needs a catalog: sqlite:PATH or postgres:CONNINFO");
    }
    if (lake->data_path.empty()) {
      return LakeKeyError(source, prefix + ".data_path",
                          "a DuckLake needs a data_path: an absolute directory or s3://bucket/prefix");
    }
    return arrow::Status::OK();
  }
  if (lake->url.empty()) return LakeKeyError(source, prefix + ".url", "a lake needs a url");
  return arrow::Status::OK();
}

arrow::Status FinishDuckLake(const std::string& prefix, const std::string& source,
                             const std::string& default_table, LakeConfig* lake) {
  if (lake->table.empty()) lake->table = default_table;
  const std::string folder = lake->data_path + lake->schema + "/" + lake->table + "/";
  lake->url = folder.rfind("s3://", 0) == 0 ? folder : "file://" + folder;
  auto st = CheckUrl(lake->url);
  if (!st.ok()) return LakeKeyError(source, prefix + ".data_path", st.message());
  return arrow::Status::OK();
}

}  // namespace arrowport::config
