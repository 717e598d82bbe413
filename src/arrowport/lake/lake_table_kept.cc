#include "arrowport/lake/lake_table.h"

#include "arrowport/common/thread_cancellation.h"

// The snapshots a LakeTable keeps (shared, immutable, charged to the memory budget) and
// the answers it remembers.

namespace arrowport::lake {

namespace {

// What a snapshot holds in memory, roughly: its strings and a map node per entry.
int64_t MemoryOf(const Snapshot& snapshot) {
  constexpr int64_t kNode = 96;  // a std::map node and its std::string headers
  const auto values = [](const PartitionValues& partition_values) {
    int64_t bytes = 0;
    for (const auto& [column, value] : partition_values) {
      bytes += kNode + static_cast<int64_t>(column.size() + (value ? value->size() : 0));
    }
    return bytes;
  };
  int64_t bytes = static_cast<int64_t>(sizeof(Snapshot)) +
                  static_cast<int64_t>(snapshot.metadata.schema_string.size());
  for (const auto& [path, add] : snapshot.files) {
    bytes += kNode +
             static_cast<int64_t>(sizeof(AddFile) + 2 * path.size() + add.stats.size()) +
             values(add.partition_values);
  }
  for (const auto& [path, remove] : snapshot.tombstones) {
    bytes += kNode + static_cast<int64_t>(sizeof(RemoveFile) + 2 * path.size()) +
             values(remove.partition_values);
  }
  for (const auto& [app, version] : snapshot.app_versions) {
    bytes += kNode + static_cast<int64_t>(app.size());
  }
  for (const auto& [app, sealed] : snapshot.sealed_txns) {
    bytes += kNode + static_cast<int64_t>(sizeof(SealedTxn) + app.size());
  }
  for (const auto& [app, unsealed] : snapshot.unsealed_txns) {
    bytes += kNode + static_cast<int64_t>(sizeof(UnsealedTxn) + app.size());
  }
  return bytes;
}

}  // namespace

arrow::Result<CheckpointedTxn> LakeTable::CheckpointedSeal(const std::string& app_id,
                                                           int64_t checkpoint_version,
                                                           const std::string& table) {
  const auto key = std::make_tuple(app_id, checkpoint_version, table);
  std::promise<arrow::Result<CheckpointedTxn>> searching;
  std::shared_ptr<const SealSearch> search;
  bool searcher = false;
  {
    std::lock_guard<std::mutex> lock(seals_mutex_);
    auto known = checkpointed_seals_.find(key);
    if (known != checkpointed_seals_.end()) {
      // Known, or another caller is searching: its answer (up to 256 GETs) is ours too.
      search = known->second;
    } else {
      if (checkpointed_seals_.size() >= kMaxRememberedSeals) checkpointed_seals_.clear();
      search = std::make_shared<SealSearch>(SealSearch{searching.get_future().share()});
      checkpointed_seals_.emplace(key, search);
      searcher = true;
    }
  }
  if (!searcher) {
    ARROW_RETURN_NOT_OK(WaitUnlessCancelled(search->answer));
    auto answer = search->answer.get();
    // A search whose caller was cancelled may have ended for that call's reason (its
    // entry is gone): a caller whose own call goes on searches again.
    if (!answer.ok() && search->searcher_cancelled) {
      return CheckpointedSeal(app_id, checkpoint_version, table);
    }
    return answer;
  }
  arrow::Result<CheckpointedTxn> found = arrow::Status::UnknownError("not searched");
  try {
    found = log_->FindSealedTxn(app_id, checkpoint_version, table);
  } catch (const std::exception& e) {
    found =
        arrow::Status::IOError("looking for the commit of '", app_id, "': ", e.what());
  } catch (...) {
    found = arrow::Status::UnknownError("looking for the commit of '", app_id,
                                        "': an unknown exception");
  }
  if (!found.ok()) {
    // The store failing is no answer: the next call looks again.
    std::lock_guard<std::mutex> lock(seals_mutex_);
    auto entry = checkpointed_seals_.find(key);
    if (entry != checkpointed_seals_.end() && entry->second == search) {
      checkpointed_seals_.erase(entry);
    }
  }
  const auto call = ThreadCancellation::Current().cancellation;
  search->searcher_cancelled = call != nullptr && call->cancelled();
  searching.set_value(found);
  return found;
}

std::shared_ptr<const Snapshot> LakeTable::Cached() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return latest_;
}

void LakeTable::Publish(std::shared_ptr<const Snapshot> snapshot) {
  // Readers given parts of one snapshot (Flight endpoints) may come back for it after
  // newer commits: the last few stay at hand, charged to the budget like any call's
  // buffers. Snapshots are immutable: kept and handed out as they are, never copied.
  // A reader is handed a snapshot's parts and fetches them afterwards: one that commits
  // a few times a second made every endpoint of an 8-commit-old snapshot "no longer
  // served" (issue 68's attack). Kept: the last 8, and any of the last minute (at most
  // 256, and within the budget's half, below).
  constexpr size_t kRecentSnapshots = 8;
  constexpr size_t kMostSnapshots = 256;
  constexpr auto kKeptFor = std::chrono::seconds(60);
  const auto now = std::chrono::steady_clock::now();
  Held kept{snapshot, MemoryOf(*snapshot), {}, now};
  std::vector<Held> dropped;  // released after the lock
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t version = snapshot->version;
  if (latest_ && !latest_->SameLog(*snapshot)) {
    // Another log at the table's place (a DuckLake catalog replaced at its path): its
    // versions start anew, and no snapshot of the old one is among them.
    for (auto& [old_version, held] : recent_) dropped.push_back(std::move(held));
    recent_.clear();
    latest_.reset();
  }
  if (recent_.count(version) != 0) return;  // the same version, read twice
  if (budget_) {
    // Snapshots kept for readers of older versions take at most half of the budget (calls
    // need the rest): short of room, the oldest go first (a reader of one is told to ask
    // for the table again). The newest must be served: it may take whatever is free.
    const bool newest = !latest_ || version >= latest_->version;
    const std::string what = "a lake table's snapshot";
    for (;;) {
      auto charge = budget_->TryReserve(kept.bytes, what, budget_->capacity() / 2);
      if (charge.ok()) {
        kept.charge = std::move(*charge);
        break;
      }
      auto oldest = recent_.begin();
      if (oldest != recent_.end() && oldest->first < version &&
          (newest || !latest_ || oldest->first != latest_->version)) {
        dropped.push_back(std::move(oldest->second));
        recent_.erase(oldest);
        continue;
      }
      if (!newest) return;  // not kept: its readers ask again
      charge = budget_->TryReserve(kept.bytes, what);
      if (charge.ok()) {
        kept.charge = std::move(*charge);
      } else {
        Warn("the lake table's snapshot of version " + std::to_string(version) + " (" +
             std::to_string(kept.bytes) + " bytes) is kept without a charge: " +
             charge.status().message());
      }
      break;
    }
  }
  recent_.emplace(version, std::move(kept));
  while (recent_.size() > kRecentSnapshots &&
         (recent_.size() > kMostSnapshots || now - recent_.begin()->second.kept_at > kKeptFor)) {
    dropped.push_back(std::move(recent_.begin()->second));
    recent_.erase(recent_.begin());
  }
  if (!latest_ || version > latest_->version) latest_ = std::move(snapshot);
}

std::vector<std::shared_ptr<const Snapshot>> LakeTable::Kept() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<const Snapshot>> kept;
  for (const auto& [version, held] : recent_) kept.push_back(held.snapshot);
  if (latest_ && recent_.count(latest_->version) == 0) kept.push_back(latest_);
  return kept;
}

int64_t LakeTable::kept_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t bytes = 0;
  for (const auto& [version, held] : recent_) bytes += held.bytes;
  return bytes;
}

int64_t LakeTable::charged_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t bytes = 0;
  for (const auto& [version, held] : recent_) bytes += held.charge.bytes();
  return bytes;
}

arrow::Result<std::shared_ptr<const Snapshot>> LakeTable::At(int64_t version) {
  // Only the versions this process read lately: a ticket cannot make the server replay
  // the log to any old version (nor read rows a replace removed long ago).
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = recent_.find(version);
  if (it != recent_.end()) return it->second.snapshot;
  return arrow::Status::KeyError("version ", version, " of the ", format(), " table at ",
                                 store_->url(), " is no longer served: ask for the table "
                                 "again");
}

std::shared_ptr<Snapshot> LakeTable::CopyOf(const Snapshot& snapshot) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++snapshot_copies_;
  }
  return std::make_shared<Snapshot>(snapshot);
}

int64_t LakeTable::snapshot_copies() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return snapshot_copies_;
}

}  // namespace arrowport::lake
