#include "arrowport/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <vector>

#include "arrow/util/string.h"
#include "arrowport/common/identifier.h"
#include "arrowport/config/auth_section.h"
#include "arrowport/config/config_file.h"
#include "arrowport/config/config_keys.h"
#include "arrowport/config/lake_section.h"
#include "arrowport/config/transfer_section.h"
#include "arrowport/config/views_section.h"
#include "arrowport/config/cluster_nodes.h"

// ParseYaml: YAML text into a Config, key by key (each section's keys through its
// section's parser, so this file is above them), each key given once.
namespace arrowport::config {

namespace {

std::string Join(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "." + child;
}

// Whether `key` is a section holding other keys (so a scalar there is a shape error).
bool IsSection(const std::string& key) {
  const std::string prefix = key + ".";
  for (const auto& [name, _] : ScalarKeys()) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  for (const auto& name : CompositeKeys()) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

arrow::Result<std::vector<std::string>> StringList(const YAML::Node& node,
                                                   const std::string& source,
                                                   const std::string& key) {
  std::vector<std::string> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) return KeyError(source, key, "expected a list of strings");
  for (const auto& item : node) {
    if (!item.IsScalar()) return KeyError(source, key, "expected a list of strings");
    out.push_back(item.Scalar());
  }
  return out;
}

// One scalar key of streams.NAME into `stream` (`ducklake_sink`: sink is ducklake);
// KeyError for an unknown key, Invalid for a bad value.
arrow::Status ParseStreamKey(const std::string& key, const std::string& value,
                             StreamConfig* stream_config, bool* ducklake_sink) {
  StreamConfig& stream = *stream_config;
  arrow::Status st;
  if (key == "target_table") {
    st = ValidateName("table", value);
    stream.target_table = value;
  } else if (key == "chunk_size") {
    auto n = ParseInt(value);
    st = n.status();
    if (n.ok()) {
      if (*n <= 0) st = arrow::Status::Invalid("must be positive");
      stream.chunk_size = *n;
    }
  } else if (key == "schema_policy") {
    auto p = ParseSchemaPolicy(value);
    st = p.status();
    if (p.ok()) stream.schema_policy = *p;
  } else if (key == "commit") {
    auto m = ParseCommitMode(value);
    st = m.status();
    if (m.ok()) stream.commit = *m;
  } else if (key == "compression") {
    if (value != "none" && value != "zstd" && value != "lz4") {
      st = arrow::Status::Invalid("must be zstd, lz4 or none, got '", value, "'");
    }
    stream.compression = value;
  } else if (key == "transform") {
    if (value.find_first_not_of(" \t\r\n;") == std::string::npos) {
      st = arrow::Status::Invalid("must be SQL over 'input', got an empty text");
    }
    stream.transform = value;
  } else if (key == "sink") {
    auto sink = ParseSink(value);
    st = sink.status();
    if (sink.ok()) stream.sink = *sink;
    *ducklake_sink = value == "ducklake";
  } else {
    return arrow::Status::KeyError("unknown key (known: target_table, chunk_size, "
                                   "schema_policy, commit, compression, transform, sink, "
                                   "lake, ducklake)");
  }
  return st;
}

arrow::Status ParseStream(const std::string& name, const YAML::Node& node,
                          const std::string& source, Config* config) {
  const std::string prefix = "streams." + name;
  auto valid = ValidateName("stream", name);
  if (!valid.ok()) return KeyError(source, prefix, valid.message());
  StreamConfig stream;
  stream.chunk_size = config->default_chunk_size;
  bool ducklake_sink = false;  // sink: ducklake
  if (!node.IsNull() && !node.IsMap()) {
    return KeyError(source, prefix, std::string("expected a mapping, got ") + Kind(node));
  }
  for (const auto& kv : node) {
    ARROW_ASSIGN_OR_RAISE(const auto key, KeyName(kv.first, source, prefix));
    const auto full = prefix + "." + key;
    if (key == "lake" || key == "ducklake") {
      if (!stream.lake.url.empty() || stream.lake.format == LakeFormat::kDuckLake) {
        return KeyError(source, full, "a stream has one lake: give lake or ducklake");
      }
      ARROW_RETURN_NOT_OK(ParseLakeSection(kv.second, full, source, &stream.lake,
                                           key == "ducklake"));
      continue;
    }
    if (!kv.second.IsScalar()) {
      return KeyError(source, full, std::string("expected a scalar value, got ") +
                                        Kind(kv.second));
    }
    auto st = ParseStreamKey(key, kv.second.Scalar(), &stream, &ducklake_sink);
    if (st.IsKeyError()) return KeyError(source, full, st.message());
    if (!st.ok()) return KeyError(source, full, st.message());
  }
  const bool ducklake_section = stream.lake.format == LakeFormat::kDuckLake;
  if (ducklake_sink != ducklake_section && stream.sink == Sink::kLake) {
    return KeyError(source, prefix + ".sink",
                    ducklake_sink ? "sink: ducklake needs ducklake: {catalog: ..., data_path: ...}"
                                  : "ducklake settings are given: set sink: ducklake");
  }
  if (ducklake_section) {
    ARROW_RETURN_NOT_OK(FinishDuckLake(prefix + ".ducklake", source,
                                       stream.target_table.empty() ? name : stream.target_table,
                                       &stream.lake));
  }
  if (stream.sink == Sink::kLake && stream.lake.url.empty()) {
    return KeyError(source, prefix + ".lake", "sink: lake needs lake: {url: ...}");
  }
  if (stream.sink != Sink::kLake && !stream.lake.url.empty()) {
    return KeyError(source, prefix + ".sink", "lake settings are given: set sink: lake");
  }
  config->streams[name] = stream;
  return arrow::Status::OK();
}

// The deepest canonical key is three levels down; YAML anchors can make a mapping contain
// itself (`a: &x {b: *x}`), which would otherwise recurse until the stack overflows.
constexpr int kMaxDepth = 8;

// The settings a file assigned, by canonical key, with the spelling that did (`api.port`
// and `http.port` are one setting: the second would win without a word).
using GivenKeys = std::map<std::string, std::string>;

bool IsAssignedWhole(const std::string& key) {
  const auto& composites = CompositeKeys();
  return key == "streams" || key == "views" || ScalarKeys().count(key) > 0 ||
         std::find(composites.begin(), composites.end(), key) != composites.end();
}

arrow::Status ParseNode(const YAML::Node& node, const std::string& path,
                        const std::string& source, Config* config, GivenKeys* given,
                        int depth = 0) {
  const std::string key = Canonical(path);
  if (depth > kMaxDepth) return KeyError(source, path, "nested too deeply");
  if (given != nullptr && IsAssignedWhole(key)) {
    auto [first, fresh] = given->emplace(key, path);
    if (!fresh) {
      return KeyError(source, path,
                      "sets " + key + " again ('" + first->second +
                          "' set it): keep one");
    }
  }
  if (key == "streams") {
    if (node.IsNull()) return arrow::Status::OK();
    if (!node.IsMap()) return KeyError(source, path, "expected a mapping of stream names");
    std::set<std::string> folded;  // DuckDB's names ignore case: Events and events: one
    for (const auto& kv : node) {
      ARROW_ASSIGN_OR_RAISE(const auto name, KeyName(kv.first, source, path));
      if (!folded.insert(arrow::internal::AsciiToLower(name)).second) {
        return KeyError(source, Join(path, name),
                        "another stream's name differs from it only in case, and "
                        "DuckDB's table names ignore case: keep one");
      }
      ARROW_RETURN_NOT_OK(ParseStream(name, kv.second, source, config));
    }
    return arrow::Status::OK();
  }
  if (key == "views") return ParseViews(node, source, config);
  if (key == "duckdb.init_sql") {
    ARROW_ASSIGN_OR_RAISE(config->duckdb_init_sql, StringList(node, source, path));
    return arrow::Status::OK();
  }
  if (key == "duckdb.extensions") {
    ARROW_ASSIGN_OR_RAISE(config->duckdb_extensions, StringList(node, source, path));
    return arrow::Status::OK();
  }
  if (key == "auth.users") return ParseAuthUsers(node, source, config);
  if (key == "transfer.allowed_peers") {
    ARROW_ASSIGN_OR_RAISE(config->transfer.allowed_peers, StringList(node, source, path));
    ARROW_RETURN_NOT_OK(CheckAllowedPeers(config->transfer.allowed_peers, source, path));
    return arrow::Status::OK();
  }
  if (key == "transfer.peers") return ParseTransferPeers(node, source, config);
  if (key == "cluster.nodes") return ParseClusterNodes(node, source, config);
  auto it = ScalarKeys().find(key);
  if (node.IsMap() && it == ScalarKeys().end()) {
    for (const auto& kv : node) {
      ARROW_ASSIGN_OR_RAISE(const auto child, KeyName(kv.first, source, path));
      ARROW_RETURN_NOT_OK(
          ParseNode(kv.second, Join(path, child), source, config, given, depth + 1));
    }
    return arrow::Status::OK();
  }
  if (it == ScalarKeys().end()) {
    if (IsSection(key)) {
      return KeyError(source, path, std::string("expected a mapping, got ") + Kind(node));
    }
    return KeyError(source, path, "unknown key");
  }
  if (!node.IsScalar()) {
    return KeyError(source, path, std::string("expected a scalar value, got ") + Kind(node));
  }
  auto st = it->second(*config, node.Scalar());
  if (!st.ok()) return KeyError(source, path, st.message());
  return arrow::Status::OK();
}

}  // namespace

const std::vector<std::string>& CompositeKeys() {
  static const std::vector<std::string> keys = {"duckdb.init_sql", "duckdb.extensions",
                                                "auth.users", "transfer.allowed_peers",
                                                "transfer.peers", "cluster.nodes"};
  return keys;
}

arrow::Status SetCompositeFromEnvironment(const std::string& key, const std::string& value,
                                          const std::string& variable, Config* config) {
  if (key != "transfer.allowed_peers" && key != "duckdb.extensions") {
    return arrow::Status::Invalid(
        "environment ", variable, ": ", key,
        " takes more than a line of text; set it in the config file (docs/configuration.md)");
  }
  YAML::Node items(YAML::NodeType::Sequence);
  for (size_t start = 0; start <= value.size();) {
    size_t end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    const std::string item = value.substr(start, end - start);
    const size_t first = item.find_first_not_of(" \t");  // blank items are skipped
    if (first != std::string::npos) {
      items.push_back(item.substr(first, item.find_last_not_of(" \t") - first + 1));
    }
    start = end + 1;
  }
  return ParseNode(items, key, "environment " + variable, config, nullptr, 1);
}

namespace {

arrow::Result<Config> ParseRoot(const YAML::Node& root, const std::string& source) {
  Config config;
  config.source = source;
  if (root.IsNull()) return config;
  if (!root.IsMap()) return arrow::Status::Invalid(source, ": expected a mapping at top level");
  // defaults.chunk_size applies to every stream, so read it before streams. A `defaults`
  // that is not a mapping is reported by the loop below.
  for (const auto& kv : root) {
    if (!kv.first.IsScalar() || Canonical(kv.first.Scalar()) != "defaults") continue;
    if (!kv.second.IsMap()) continue;
    for (const auto& entry : kv.second) {
      if (!entry.first.IsScalar() || entry.first.Scalar() != "chunk_size") continue;
      ARROW_RETURN_NOT_OK(
          ParseNode(entry.second, "defaults.chunk_size", source, &config, nullptr));
    }
  }
  GivenKeys given;
  for (const auto& kv : root) {
    ARROW_ASSIGN_OR_RAISE(const auto key, KeyName(kv.first, source, ""));
    ARROW_RETURN_NOT_OK(ParseNode(kv.second, key, source, &config, &given));
  }
  return config;
}

// yaml-cpp keeps one of a mapping's two equal keys without a word: an operator who added
// `port: 9000` below an old `port: 8815` could not tell which the server took. Each node
// is walked once (`visited`, by its place in the text: an alias is its anchor's node), so
// an anchor that holds itself or is named a million times costs one walk; the parser
// refuses nesting deeper than kMaxDepth after this.
arrow::Status RefuseDuplicateKeys(const YAML::Node& node, const std::string& path,
                                  const std::string& source, std::set<int>* visited,
                                  int depth = 0) {
  if ((!node.IsMap() && !node.IsSequence()) || depth > kMaxDepth + 2 ||
      !visited->insert(node.Mark().pos).second) {
    return arrow::Status::OK();
  }
  if (node.IsSequence()) {
    for (const auto& item : node) {
      ARROW_RETURN_NOT_OK(RefuseDuplicateKeys(item, path, source, visited, depth + 1));
    }
    return arrow::Status::OK();
  }
  std::map<std::string, int> lines;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) continue;  // the parser refuses such a key, naming it
    const std::string& name = kv.first.Scalar();
    const std::string key = path.empty() ? name : path + "." + name;
    const int line = kv.first.Mark().line + 1;
    if (auto [first, fresh] = lines.emplace(name, line); !fresh) {
      return KeyError(source, key,
                      "given twice (lines " + std::to_string(first->second) + " and " +
                          std::to_string(line) + "): keep one");
    }
    ARROW_RETURN_NOT_OK(RefuseDuplicateKeys(kv.second, key, source, visited, depth + 1));
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<Config> ParseYaml(const std::string& text, const std::string& source) {
  // The parser above never relies on exceptions; this is the net for whatever yaml-cpp
  // (or an allocation) still throws, since an escaping exception ends the process.
  try {
    YAML::Node root;
    try {
      // YAML::Load reads the first of several documents and drops the rest unread.
      const std::vector<YAML::Node> documents = YAML::LoadAll(text);
      if (documents.size() > 1) {
        return arrow::Status::Invalid(source, ": holds ", documents.size(),
                                      " YAML documents (`---` begins each): the server "
                                      "reads one; merge them");
      }
      if (!documents.empty()) root = documents[0];
    } catch (const YAML::Exception& e) {
      return arrow::Status::Invalid(source, ": invalid YAML: ", e.what());
    }
    std::set<int> visited;
    ARROW_RETURN_NOT_OK(RefuseDuplicateKeys(root, "", source, &visited));
    return ParseRoot(root, source);
  } catch (const std::exception& e) {
    return arrow::Status::Invalid(source, ": cannot read config: ", e.what());
  }
}

}  // namespace arrowport::config
