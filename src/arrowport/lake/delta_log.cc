#include "arrowport/lake/delta_log.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "arrow/buffer.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/delta_schema.h"
#include "arrowport/lake/ducklake_table_info.h"
#include "arrowport/lake/lake_files.h"

namespace arrowport::lake {

namespace {

// A Delta commit's facts for the seal of its `txn` (table: the table's metaData.id;
// location: its URL as the server names it, which a copy of the commit into another
// table, its metaData.id rewritten to this one's, does not have).
SealedFacts DeltaSealFacts(const CommitActions& commit, const Txn& txn,
                           const std::string& table, const std::string& location) {
  SealedFacts facts;
  facts.format = "delta";
  facts.table = table;
  facts.location = location;
  facts.app_id = txn.app_id;
  facts.txn_version = txn.version;
  facts.rows = commit.output_rows;
  facts.batches = commit.output_batches;
  facts.files.reserve(commit.adds.size());
  for (const auto& add : commit.adds) {
    // The stats hold the file's row count (numRecords) and its values' bounds.
    facts.files.push_back(add.path + '\n' + std::to_string(add.size) + '\n' + add.stats);
  }
  return facts;
}

using nlohmann::json;

constexpr const char* kLogPrefix = "_delta_log/";

// The version of a commit file's name ("00000000000000000012.json"), if it is one.
std::optional<int64_t> CommitVersionOf(const std::string& key) {
  const std::string prefix = kLogPrefix;
  if (key.size() != prefix.size() + 25 || key.compare(0, prefix.size(), prefix) != 0 ||
      key.compare(key.size() - 5, 5, ".json") != 0) {
    return std::nullopt;
  }
  int64_t version = 0;
  const char* digits = key.data() + prefix.size();
  const auto [end, error] = std::from_chars(digits, digits + 20, version);
  if (error != std::errc() || end != digits + 20 || version < 0) return std::nullopt;
  return version;
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Actions a commit may hold that need no support to read or write alongside.
const std::set<std::string>& KnownActions() {
  static const std::set<std::string> known = {"add",      "remove", "metaData", "protocol",
                                              "txn",      "commitInfo"};
  return known;
}

// A commit file's actions. Another writer's log may hold anything: no exception of the
// JSON parser leaves here.
arrow::Result<CommitActions> ParseCommitText(const arrow::Buffer& body, int64_t version) {
  try {
    return ParseCommit(body.ToString(), version);
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("commit ", version, " cannot be read: ", e.what());
  }
}

// A relative path of an add or remove must name an object inside the table and outside
// its log: forged paths ("../x", "%2e%2e/x", "a//b", "_delta_log/...") would make readers,
// writers or vacuum reach other objects. Absolute paths (shallow clones) are flagged
// where they are applied.
arrow::Status CheckRelativePath(const std::string& path, const char* action, int64_t version) {
  const std::string key = KeyOfPath(path);
  auto st = objectstore::ValidateKey(key);
  if (!st.ok()) {
    return arrow::Status::Invalid("commit ", version, " has a(n) ", action, " of '", path,
                                  "', which does not name a file inside the table (",
                                  st.message(), ")");
  }
  if (key.rfind(kLogPrefix, 0) == 0) {
    return arrow::Status::Invalid("commit ", version, " has a(n) ", action, " of '", path,
                                  "', a file of the Delta log itself");
  }
  return arrow::Status::OK();
}

bool IsAbsolute(const std::string& path) {
  return path.find("://") != std::string::npos || path.rfind('/', 0) == 0;
}

}  // namespace

namespace {

// Records in `snapshot` whether `commit`'s request id txns (of Arrowport's appIds) are
// sealed with `key`, before the commit's txns are applied.
void RecordSeals(const CommitActions& commit, int64_t version, const SealKey& key,
                 const std::string& location, Snapshot* snapshot) {
  for (const auto& txn : commit.txns) {
    if (!IsRequestAppId(txn.app_id)) continue;
    if (!commit.seal.empty() &&
        key.Verifies(DeltaSealFacts(commit, txn, snapshot->metadata.id, location),
                     commit.seal)) {
      snapshot->sealed_txns[txn.app_id] = SealedTxn{
          txn.version, std::max<int64_t>(commit.output_rows, 0),
          std::max<int64_t>(commit.output_batches, 0), version};
      snapshot->unsealed_txns.erase(txn.app_id);
      continue;
    }
    auto& unsealed = snapshot->unsealed_txns[txn.app_id];
    if (unsealed.commit < 0) {
      // Its first unsealed commit: whether the checkpoint had a txn of it (not sealed
      // since) that the commit files before the checkpoint may explain.
      unsealed.checkpointed = snapshot->checkpoint_version >= 0 &&
                              snapshot->app_versions.count(txn.app_id) != 0 &&
                              snapshot->sealed_txns.count(txn.app_id) == 0;
    }
    unsealed.commit = version;
  }
}

}  // namespace

arrow::Status Snapshot::Apply(const CommitActions& commit, int64_t next_version,
                              const SealKey* key, const std::string& location) {
  if (commit.protocol) protocol = *commit.protocol;
  if (commit.metadata) {
    ARROW_ASSIGN_OR_RAISE(schema, FromDeltaSchemaString(commit.metadata->schema_string));
    metadata = *commit.metadata;
  }
  // Checked before anything changes: a refused commit leaves the snapshot as it was.
  for (const auto& remove : commit.removes) {
    if (!IsAbsolute(remove.path)) {
      ARROW_RETURN_NOT_OK(CheckRelativePath(remove.path, "remove", next_version));
    }
  }
  for (const auto& add : commit.adds) {
    if (!IsAbsolute(add.path)) ARROW_RETURN_NOT_OK(CheckRelativePath(add.path, "add", next_version));
  }
  for (const auto& remove : commit.removes) {
    files.erase(remove.path);
    tombstones[remove.path] = remove;
  }
  for (const auto& add : commit.adds) {
    tombstones.erase(add.path);
    files[add.path] = add;
    // Absolute paths (shallow clones, files of another table): not read, written or
    // vacuumed by us.
    if (IsAbsolute(add.path)) {
      if (!Contains(unknown_actions, "add.absolutePath")) {
        unknown_actions.push_back("add.absolutePath");
      }
    }
  }
  if (key != nullptr) RecordSeals(commit, next_version, *key, location, this);
  for (const auto& txn : commit.txns) app_versions[txn.app_id] = txn.version;
  for (const auto& name : commit.unknown_actions) {
    if (!Contains(unknown_actions, name)) unknown_actions.push_back(name);
  }
  version = next_version;
  ++commits_since_checkpoint;
  return arrow::Status::OK();
}

bool Snapshot::SameLog(const Snapshot& other) const {
  const std::string mine = ducklake ? ducklake->catalog_file : "";
  const std::string theirs = other.ducklake ? other.ducklake->catalog_file : "";
  return mine == theirs;
}

arrow::Status Snapshot::CheckReadable() const {
  ARROW_RETURN_NOT_OK(CheckShape());
  if (ducklake && !ducklake->unreadable_rows.empty()) {
    return arrow::Status::NotImplemented("the DuckLake table's rows are not read: ",
                                         ducklake->unreadable_rows);
  }
  return arrow::Status::OK();
}

arrow::Status Snapshot::CheckShape() const {
  if (ducklake && !ducklake->refused.empty()) {
    return TableRefused("the DuckLake table is refused: ", ducklake->refused);
  }
  if (ducklake && !ducklake->unreadable.empty()) {
    return arrow::Status::NotImplemented("the DuckLake table is not read: ",
                                         ducklake->unreadable);
  }
  // Found by a hostile client: a log whose commits hold no metaData action (a first
  // commit with only a protocol line, or empty) read as "no table yet" and the first
  // write on it crashed the server (its schema was merged with none).
  if (version >= 0 && !schema) {
    return TableRefused("the Delta log has no table metadata (no metaData action in "
                        "versions 0 to ", version, "): not a table Arrowport can read or "
                        "write");
  }
  const int reader = protocol.min_reader_version;
  auto mode = metadata.configuration.find("delta.columnMapping.mode");
  if (mode != metadata.configuration.end() && mode->second != "none") {
    return arrow::Status::NotImplemented("the Delta table uses column mapping (",
                                         mode->second, "), which Arrowport cannot read");
  }
  if (reader > 3) {
    return arrow::Status::NotImplemented("the Delta table needs reader version ", reader,
                                         " (Arrowport reads versions 1 to 3)");
  }
  if (reader == 3) {
    for (const auto& feature : protocol.reader_features) {
      if (feature != "timestampNtz" && feature != "vacuumProtocolCheck") {
        return arrow::Status::NotImplemented("the Delta table needs reader feature '",
                                             feature, "', which Arrowport cannot read");
      }
    }
  }
  for (const auto& name : unknown_actions) {
    if (name == "add.deletionVector") {
      return arrow::Status::NotImplemented(
          "the Delta table has deletion vectors, which Arrowport cannot read");
    }
    if (name == "add.absolutePath") {
      return arrow::Status::NotImplemented(
          "the Delta table has files outside its directory (absolute paths), which "
          "Arrowport does not read");
    }
  }
  return arrow::Status::OK();
}

arrow::Status Snapshot::CheckWritable() const {
  ARROW_RETURN_NOT_OK(CheckShape());
  if (ducklake && !ducklake->unwritable.empty()) {
    return arrow::Status::NotImplemented("Arrowport does not write this DuckLake table: ",
                                         ducklake->unwritable);
  }
  const int writer = protocol.min_writer_version;
  auto refuse = [](const std::string& why) {
    return arrow::Status::NotImplemented("Arrowport does not write this Delta table: ", why);
  };
  if (writer == 5 || writer == 6 || writer > 7) {
    return refuse("it needs writer version " + std::to_string(writer));
  }
  if (writer == 7) {
    static const std::set<std::string> supported = {"appendOnly", "invariants",
                                                    "timestampNtz"};
    for (const auto& feature : protocol.writer_features) {
      if (supported.count(feature) == 0) {
        return refuse("it needs writer feature '" + feature + "'");
      }
    }
  }
  for (const auto& [key, value] : metadata.configuration) {
    if (key.rfind("delta.constraints.", 0) == 0) return refuse("it has CHECK constraints");
    if (key == "delta.enableChangeDataFeed" && value == "true") {
      return refuse("it has the change data feed on");
    }
  }
  if (metadata.schema_string.find("delta.invariants") != std::string::npos ||
      metadata.schema_string.find("delta.generationExpression") != std::string::npos ||
      metadata.schema_string.find("delta.identity") != std::string::npos) {
    return refuse("its schema has invariants, generated or identity columns");
  }
  for (const auto& name : unknown_actions) {
    if (KnownActions().count(name) == 0) {
      return refuse("its log holds '" + name + "' actions, which Arrowport does not write");
    }
  }
  return arrow::Status::OK();
}

bool Snapshot::append_only() const {
  auto it = metadata.configuration.find("delta.appendOnly");
  return it != metadata.configuration.end() && it->second == "true";
}

int64_t Snapshot::num_records() const {
  int64_t total = 0;
  for (const auto& [path, add] : files) {
    if (add.num_records < 0) return -1;
    total += add.num_records;
  }
  return total;
}

DeltaLog::DeltaLog(std::shared_ptr<objectstore::ObjectStore> store,
                   std::shared_ptr<const SealKey> key)
    : store_(std::move(store)),
      key_(key ? std::move(key) : SealKey::Random()),
      location_(store_->url()) {}

std::string DeltaLog::CommitKey(int64_t version) {
  char name[48];
  std::snprintf(name, sizeof(name), "%s%020lld.json", kLogPrefix,
                static_cast<long long>(version));
  return name;
}

arrow::Status DeltaLog::UpdateUnsafe(Snapshot* snapshot,
                                     std::vector<std::pair<int64_t, CommitActions>>* applied,
                                     int64_t up_to) {
  std::string start_after;
  if (snapshot->version < 0) {
    // A new reader starts from the last checkpoint when the log has one.
    auto last = store_->Get(std::string(kLogPrefix) + "_last_checkpoint");
    if (last.ok()) {
      json parsed = json::parse((*last)->ToString(), nullptr, false);
      if (!parsed.is_discarded() && parsed.is_object() && parsed.contains("version") &&
          parsed["version"].is_number_integer() && parsed["version"].get<int64_t>() <= up_to) {
        ARROW_RETURN_NOT_OK(ReadCheckpoint(parsed["version"].get<int64_t>(), snapshot));
      }
    } else if (!last.status().IsKeyError()) {
      return last.status();
    }
  }
  if (snapshot->version >= 0) start_after = CommitKey(snapshot->version);
  ARROW_ASSIGN_OR_RAISE(auto listing, store_->List(kLogPrefix, start_after));
  for (const auto& object : listing) {
    const auto parsed = CommitVersionOf(object.key);
    if (!parsed) continue;  // checkpoints, _last_checkpoint, other tools' files
    const int64_t version = *parsed;
    if (version <= snapshot->version) continue;
    if (version > up_to) break;
    if (version != snapshot->version + 1) {
      return arrow::Status::Invalid("the Delta log of ", store_->url(), " misses version ",
                                    snapshot->version + 1, " (next is ", version, ")");
    }
    ARROW_ASSIGN_OR_RAISE(auto body, store_->Get(object.key));
    ARROW_ASSIGN_OR_RAISE(auto commit, ParseCommitText(*body, version));
    ARROW_RETURN_NOT_OK(snapshot->Apply(commit, version, key_.get(), location_));
    if (applied != nullptr) applied->emplace_back(version, std::move(commit));
  }
  return arrow::Status::OK();
}

arrow::Status DeltaLog::Update(Snapshot* snapshot,
                               std::vector<std::pair<int64_t, CommitActions>>* applied,
                               int64_t up_to) {
  // Another writer's log may hold anything: no exception of a parser leaves here.
  try {
    return UpdateUnsafe(snapshot, applied, up_to);
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("the Delta log of ", store_->url(), " cannot be read: ",
                                  e.what());
  }
}

arrow::Result<bool> DeltaLog::HasNewer(int64_t version) {
  ARROW_ASSIGN_OR_RAISE(auto listing, store_->List(kLogPrefix, CommitKey(version)));
  for (const auto& object : listing) {
    if (CommitVersionOf(object.key)) return true;
  }
  return false;
}

arrow::Result<int64_t> DeltaLog::NewestVersion(int64_t version) {
  ARROW_ASSIGN_OR_RAISE(auto listing, store_->List(kLogPrefix, CommitKey(version)));
  int64_t newest = version;
  for (const auto& object : listing) {
    if (auto found = CommitVersionOf(object.key)) newest = std::max(newest, *found);
  }
  return newest;
}

void DeltaLog::Seal(const Snapshot& base, CommitActions* commit) const {
  for (const auto& txn : commit->txns) {
    if (!IsRequestAppId(txn.app_id)) continue;
    // The table's id as a reader replaying the log has it when it meets this commit.
    const std::string& table = commit->metadata ? commit->metadata->id : base.metadata.id;
    commit->seal = key_->Seal(DeltaSealFacts(*commit, txn, table, location_));
    return;  // a commit records one request id
  }
}

arrow::Result<CheckpointedTxn> DeltaLog::FindSealedTxn(const std::string& app_id,
                                                       int64_t checkpoint_version,
                                                       const std::string& table) {
  CheckpointedTxn answer;
  const int64_t lowest = std::max<int64_t>(0, checkpoint_version - kMaxCountSearch + 1);
  bool complete = lowest == 0;  // every commit of the log searched, none passed over
  for (int64_t version = checkpoint_version; version >= lowest; --version) {
    answer.searched_down_to = version;
    auto body = store_->Get(CommitKey(version));
    if (!body.ok()) {
      if (!body.status().IsKeyError()) return body.status();
      complete = false;  // expired, and all before it
      break;
    }
    auto commit = (*body)->size() > kMaxCountSearchBytes
                      ? arrow::Result<CommitActions>(arrow::Status::Invalid("too large"))
                      : ParseCommitText(**body, version);
    if (!commit.ok()) {
      complete = false;
      continue;
    }
    for (const auto& txn : commit->txns) {
      if (txn.app_id != app_id) continue;
      if (!commit->seal.empty() &&
          key_->Verifies(DeltaSealFacts(*commit, txn, table, location_), commit->seal)) {
        answer.found = CheckpointedTxn::Found::kSealed;
        answer.txn = SealedTxn{txn.version, std::max<int64_t>(commit->output_rows, 0),
                               std::max<int64_t>(commit->output_batches, 0), version};
        return answer;
      }
      if (answer.unsealed < 0) answer.unsealed = version;
    }
  }
  answer.found = complete ? CheckpointedTxn::Found::kNotArrowports
                          : CheckpointedTxn::Found::kUnknown;
  return answer;
}

arrow::Status DeltaLog::TryCommit(int64_t version, const CommitActions& commit) {
  return store_->PutIfAbsent(CommitKey(version),
                             arrow::Buffer::FromString(SerializeCommit(commit, NowMs())));
}

}  // namespace arrowport::lake
