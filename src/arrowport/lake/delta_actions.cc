// The text of commit files: Delta's actions as newline-delimited JSON, and back.
#include <cctype>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "arrowport/lake/delta_log.h"
#include "arrowport/lake/json_text.h"
#include "arrowport/lake/lake_files.h"

namespace arrowport::lake {

namespace {

using nlohmann::json;

json PartitionJson(const PartitionValues& values) {
  json out = json::object();
  for (const auto& [column, value] : values) {
    out[column] = value ? json(*value) : json(nullptr);
  }
  return out;
}

PartitionValues PartitionOf(const json& values) {
  PartitionValues out;
  if (!values.is_object()) return out;
  for (const auto& [column, value] : values.items()) {
    if (value.is_string()) {
      out[column] = value.get<std::string>();
    } else {
      out[column] = std::nullopt;
    }
  }
  return out;
}

std::vector<std::string> Strings(const json& value) {
  std::vector<std::string> out;
  if (!value.is_array()) return out;
  for (const auto& item : value) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

int64_t NumRecordsOf(const std::string& stats) {
  if (stats.empty()) return -1;
  json parsed = json::parse(stats, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return -1;
  auto it = parsed.find("numRecords");
  if (it == parsed.end() || !it->is_number_integer()) return -1;
  return it->get<int64_t>();
}

}  // namespace

std::string KeyOfPath(const std::string& path) {
  // add.path is a URI: percent-decode it once.
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && std::isxdigit(static_cast<unsigned char>(path[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
      out += static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += path[i];
    }
  }
  return out;
}

std::string PathOfKey(const std::string& key) {
  return PercentEncode(key, "/-_.=~");
}

std::string SerializeCommit(const CommitActions& commit, int64_t timestamp_ms) {
  std::string out;
  auto line = [&out](const json& action) {
    out += JsonText(action);
    out += '\n';
  };
  json params = json::object();
  for (const auto& [k, v] : commit.operation_parameters) params[k] = v;
  json info = {{"timestamp", timestamp_ms},
               {"operation", commit.operation},
               {"operationParameters", params},
               {"isBlindAppend", commit.blind_append},
               {"engineInfo", "arrowport"},
               {"txnId", commit.txn_id}};
  if (commit.output_rows >= 0) {
    // Delta's operationMetrics hold strings.
    info["operationMetrics"] = {{"numOutputRows", std::to_string(commit.output_rows)},
                                {"numOutputBatches", std::to_string(commit.output_batches)},
                                {"numFiles", std::to_string(commit.adds.size())}};
  }
  if (!commit.seal.empty()) info["arrowportSeal"] = commit.seal;
  line({{"commitInfo", info}});
  if (commit.protocol) {
    json protocol = {{"minReaderVersion", commit.protocol->min_reader_version},
                     {"minWriterVersion", commit.protocol->min_writer_version}};
    if (commit.protocol->min_reader_version >= 3) {
      protocol["readerFeatures"] = commit.protocol->reader_features;
    }
    if (commit.protocol->min_writer_version >= 7) {
      protocol["writerFeatures"] = commit.protocol->writer_features;
    }
    line({{"protocol", protocol}});
  }
  if (commit.metadata) {
    const Metadata& m = *commit.metadata;
    json configuration = json::object();
    for (const auto& [k, v] : m.configuration) configuration[k] = v;
    line({{"metaData",
           {{"id", m.id},
            {"format", {{"provider", "parquet"}, {"options", json::object()}}},
            {"schemaString", m.schema_string},
            {"partitionColumns", m.partition_columns},
            {"configuration", configuration},
            {"createdTime", m.created_time}}}});
  }
  for (const auto& txn : commit.txns) {
    line({{"txn",
           {{"appId", txn.app_id}, {"version", txn.version}, {"lastUpdated", txn.last_updated}}}});
  }
  for (const auto& remove : commit.removes) {
    json r = {{"path", remove.path},
              {"deletionTimestamp", remove.deletion_timestamp},
              {"dataChange", remove.data_change},
              {"partitionValues", PartitionJson(remove.partition_values)}};
    if (remove.size >= 0) {
      r["size"] = remove.size;
      r["extendedFileMetadata"] = true;  // partitionValues and size are both there
    }
    line({{"remove", r}});
  }
  for (const auto& add : commit.adds) {
    json a = {{"path", add.path},
              {"partitionValues", PartitionJson(add.partition_values)},
              {"size", add.size},
              {"modificationTime", add.modification_time},
              {"dataChange", add.data_change}};
    if (!add.stats.empty()) a["stats"] = add.stats;
    line({{"add", a}});
  }
  return out;
}

namespace {

// The actions of a commit file, one each; nlohmann's json::exception (a required field
// missing or of another type) is ParseCommit's to report with the line.

AddFile ParseAddAction(const json& body, CommitActions* commit) {
  AddFile add;
  add.path = body.at("path").get<std::string>();
  add.partition_values = PartitionOf(body.value("partitionValues", json::object()));
  add.size = body.value("size", int64_t{0});
  add.modification_time = body.value("modificationTime", int64_t{0});
  add.data_change = body.value("dataChange", true);
  if (body.contains("stats") && body["stats"].is_string()) {
    add.stats = body["stats"].get<std::string>();
  }
  add.num_records = NumRecordsOf(add.stats);
  if (body.contains("deletionVector") && !body["deletionVector"].is_null()) {
    commit->unknown_actions.push_back("add.deletionVector");
  }
  return add;
}

RemoveFile ParseRemoveAction(const json& body) {
  RemoveFile remove;
  remove.path = body.at("path").get<std::string>();
  remove.deletion_timestamp = body.value("deletionTimestamp", int64_t{0});
  remove.data_change = body.value("dataChange", true);
  remove.partition_values = PartitionOf(body.value("partitionValues", json::object()));
  remove.size = body.value("size", int64_t{-1});
  return remove;
}

Metadata ParseMetadataAction(const json& body) {
  Metadata m;
  m.id = body.value("id", std::string());
  m.schema_string = body.at("schemaString").get<std::string>();
  m.partition_columns = Strings(body.value("partitionColumns", json::array()));
  if (body.contains("configuration") && body["configuration"].is_object()) {
    for (const auto& [k, v] : body["configuration"].items()) {
      if (v.is_string()) m.configuration[k] = v.get<std::string>();
    }
  }
  if (body.contains("createdTime") && body["createdTime"].is_number_integer()) {
    m.created_time = body["createdTime"].get<int64_t>();
  }
  return m;
}

Protocol ParseProtocolAction(const json& body) {
  Protocol p;
  p.min_reader_version = body.at("minReaderVersion").get<int>();
  p.min_writer_version = body.at("minWriterVersion").get<int>();
  p.reader_features = Strings(body.value("readerFeatures", json::array()));
  p.writer_features = Strings(body.value("writerFeatures", json::array()));
  return p;
}

Txn ParseTxnAction(const json& body) {
  Txn txn;
  txn.app_id = body.at("appId").get<std::string>();
  txn.version = body.at("version").get<int64_t>();
  txn.last_updated = body.value("lastUpdated", int64_t{0});
  return txn;
}

// commitInfo: the operation, our transaction id, and the rows and batches the operation
// wrote (-1 when its metrics do not say, as a decimal string).
void ParseCommitInfo(const json& body, CommitActions* commit) {
  if (!body.is_object()) return;
  commit->operation = body.value("operation", std::string());
  if (body.contains("txnId") && body["txnId"].is_string()) {
    commit->txn_id = body["txnId"].get<std::string>();
  }
  if (body.contains("arrowportSeal") && body["arrowportSeal"].is_string()) {
    commit->seal = body["arrowportSeal"].get<std::string>();
  }
  auto metrics = body.find("operationMetrics");
  if (metrics == body.end() || !metrics->is_object()) return;
  auto count = [&](const char* name) -> int64_t {
    auto it = metrics->find(name);
    if (it == metrics->end() || !it->is_string()) return -1;
    const std::string text = it->get<std::string>();
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
        text.size() > 18) {
      return -1;
    }
    return std::stoll(text);
  };
  commit->output_rows = count("numOutputRows");
  commit->output_batches = count("numOutputBatches");
}

}  // namespace

arrow::Result<CommitActions> ParseCommit(const std::string& text, int64_t version) {
  CommitActions commit;
  commit.operation.clear();
  size_t start = 0;
  int line_number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json action = json::parse(line, nullptr, false);
    if (action.is_discarded() || !action.is_object() || action.size() != 1) {
      return arrow::Status::Invalid("Delta commit ", version, " line ", line_number,
                                    " is not one JSON action");
    }
    try {
      const std::string name = action.begin().key();
      const json& body = action.begin().value();
      if (name == "add") {
        commit.adds.push_back(ParseAddAction(body, &commit));
      } else if (name == "remove") {
        commit.removes.push_back(ParseRemoveAction(body));
      } else if (name == "metaData") {
        commit.metadata = ParseMetadataAction(body);
      } else if (name == "protocol") {
        commit.protocol = ParseProtocolAction(body);
      } else if (name == "txn") {
        commit.txns.push_back(ParseTxnAction(body));
      } else if (name == "commitInfo") {
        ParseCommitInfo(body, &commit);
      } else {
        commit.unknown_actions.push_back(name);
      }
    } catch (const json::exception& e) {
      return arrow::Status::Invalid("Delta commit ", version, " line ", line_number, ": ",
                                    e.what());
    }
  }
  return commit;
}

}  // namespace arrowport::lake
