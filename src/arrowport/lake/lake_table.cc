#include "arrowport/lake/lake_table.h"

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "arrowport/common/status_detail.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/lake/lake_files.h"

namespace arrowport::lake {

LakeTable::LakeTable(std::shared_ptr<objectstore::ObjectStore> store,
                     config::LakeConfig config, Logger* logger,
                     std::shared_ptr<MemoryBudget> budget, std::unique_ptr<TableLog> log)
    : store_(std::move(store)),
      config_(std::move(config)),
      log_(log ? std::move(log) : std::make_unique<DeltaLog>(store_)),
      logger_(logger),
      budget_(std::move(budget)) {}

void LakeTable::Warn(const std::string& message) const {
  if (logger_ != nullptr) logger_->Warn(message, {{"lake", store_->url()}});
}

arrow::Status LakeTable::refusal() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return refusal_;
}

arrow::Status LakeTable::Refuse(const arrow::Status& st, int64_t from) {
  // The store failing (IOError, a vanished object) is for a retry; anything else is the
  // log's content, which the next read would find again.
  if (st.IsIOError() || st.IsKeyError() || st.IsCancelled() || st.IsOutOfMemory() ||
      GetErrorKind(st) != nullptr) {
    return st;
  }
  const int64_t newest = log_->NewestVersion(from).ValueOr(-1);
  auto refused = TableRefused("the ", format(), " table at ", store_->url(), " is refused: ",
                              st.message());
  Warn("lake table refused for reads and writes: " + st.message());
  std::lock_guard<std::mutex> lock(mutex_);
  refusal_ = refused;
  refused_at_ = newest;
  return refused;
}

arrow::Status LakeTable::CheckAddedFiles(
    const std::vector<std::pair<std::string, int64_t>>& files) {
  // Few files (a request's), or a directory (cheap): each one opened, which also checks a
  // symbolic link stays inside. Many on S3 (a first read, a forged log): one listing.
  constexpr size_t kMaxOpened = 64;
  const bool local = store_->url().rfind("file://", 0) == 0;
  auto missing = [](const std::string& key, const std::string& why) {
    return arrow::Status::Invalid("the log adds the file '", key, "', which ", why);
  };
  auto sized = [&](const std::string& key, int64_t logged, int64_t stored) {
    if (logged <= 0 || logged == stored) return arrow::Status::OK();
    return missing(key, "the store holds with " + std::to_string(stored) +
                            " bytes, where the log says " + std::to_string(logged));
  };
  if (local || files.size() <= kMaxOpened) {
    for (const auto& [key, size] : files) {
      auto file = store_->OpenRead(key);
      if (!file.ok()) {
        if (file.status().IsKeyError()) return missing(key, "is not in the store");
        if (file.status().IsInvalid()) return missing(key, file.status().message());
        return file.status();
      }
      auto stored = (*file)->GetSize();
      (void)(*file)->Close();
      ARROW_RETURN_NOT_OK(stored.status());
      ARROW_RETURN_NOT_OK(sized(key, size, *stored));
    }
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto listing, store_->List(""));
  std::map<std::string, int64_t> present;
  for (const auto& object : listing) present.emplace(object.key, object.size);
  for (const auto& [key, size] : files) {
    auto found = present.find(key);
    if (found == present.end()) return missing(key, "is not in the store");
    ARROW_RETURN_NOT_OK(sized(key, size, found->second));
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<const Snapshot>> LakeTable::Latest() {
  using Answer = arrow::Result<std::shared_ptr<const Snapshot>>;
  std::unique_lock<std::mutex> lock(mutex_);
  // A read that started before this call may have listed the log before a commit this
  // caller knows of: the answer is the first read that starts after now.
  int64_t needed = reads_started_ + 1;
  for (;;) {
    std::shared_ptr<LogRead> shared = reading_;
    if (!shared && last_read_ && last_read_->number >= needed) shared = last_read_;
    if (!shared) break;  // this caller reads
    lock.unlock();
    ARROW_RETURN_NOT_OK(WaitUnlessCancelled(shared->answer));
    if (shared->number >= needed) {
      Answer answer = shared->answer.get();
      // A read whose caller was cancelled may have ended for that call's reason: one
      // whose own call goes on does not take it for the store's and reads again.
      if (answer.ok() || !shared->leader_cancelled) return answer;
      lock.lock();
      needed = reads_started_ + 1;
      continue;
    }
    lock.lock();
  }
  auto read = std::make_shared<LogRead>();
  read->number = ++reads_started_;
  std::promise<Answer> answering;
  read->answer = answering.get_future().share();
  reading_ = read;
  lock.unlock();
  // The store's time is spent here, with no lock held: others wait on the answer only.
  Answer answer = arrow::Status::UnknownError("not read");
  try {
    answer = ReadLatest();
  } catch (const std::exception& e) {
    answer = arrow::Status::IOError("reading the ", format(), " log of ", store_->url(), ": ",
                                    e.what());
  } catch (...) {
    // Whatever ends this read, the callers waiting for it get an answer.
    answer = arrow::Status::UnknownError("reading the ", format(), " log of ", store_->url(),
                                         ": an unknown exception");
  }
  const auto call = ThreadCancellation::Current().cancellation;
  read->leader_cancelled = call != nullptr && call->cancelled();
  lock.lock();
  reading_.reset();
  last_read_ = read;
  lock.unlock();
  answering.set_value(answer);
  return answer;
}

arrow::Result<std::shared_ptr<const Snapshot>> LakeTable::ReadLatest() {
  int64_t refused_at;
  arrow::Status refused;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    refused = refusal_;
    refused_at = refused_at_;
  }
  if (!refused.ok() && refused_at >= 0) {
    // Refused: one listing says whether the log has moved on since.
    auto newest = log_->NewestVersion(refused_at);
    if (!newest.ok()) {
      return newest.status().WithMessage("reading the ", format(), " log of ", store_->url(), ": ",
                                         newest.status().message());
    }
    if (*newest == refused_at) return refused;
  }
  auto latest = LoadLatest();
  if (latest.ok()) {
    std::lock_guard<std::mutex> lock(mutex_);
    refusal_ = arrow::Status::OK();
    refused_at_ = -1;
  }
  return latest;
}

arrow::Result<std::shared_ptr<const Snapshot>> LakeTable::LoadLatest() {
  auto cached = Cached();
  if (cached) {
    // Most reads find nothing new: one listing, no copy of the snapshot.
    auto newer = log_->HasNewer(cached->version);
    if (!newer.ok()) {
      return newer.status().WithMessage("reading the ", format(), " log of ", store_->url(), ": ",
                                        newer.status().message());
    }
    if (!*newer) return cached;
  }
  return ReadForward(cached, INT64_MAX);
}

arrow::Result<std::shared_ptr<const Snapshot>> LakeTable::Reach(int64_t version) {
  auto kept = At(version);
  if (kept.ok()) return kept;
  auto cached = Cached();
  if (cached && cached->version >= version) return kept;
  ARROW_ASSIGN_OR_RAISE(auto reached, ReadForward(cached, version));
  if (reached->version != version) {
    return arrow::Status::KeyError("version ", version, " of the ", format(), " table at ",
                                   store_->url(), " is not in its log (newest: ",
                                   reached->version, "): ask for the table again");
  }
  return reached;
}

arrow::Result<std::shared_ptr<const Snapshot>> LakeTable::ReadForward(
    const std::shared_ptr<const Snapshot>& cached, int64_t up_to) {
  const int64_t from = cached ? cached->version : -1;
  auto next = cached ? CopyOf(*cached) : std::make_shared<Snapshot>();
  const int64_t before = next->version;
  auto st = log_->Update(next.get(), nullptr, up_to);
  if (!st.ok()) {
    return Refuse(st.WithMessage("reading the ", format(), " log of ", store_->url(), ": ",
                                 st.message()),
                  from);
  }
  if (cached && next->version == before && next->SameLog(*cached)) return cached;
  // The files this update added (another writer's commits, or the whole table on a first
  // read) must be in the store.
  std::vector<std::pair<std::string, int64_t>> added;
  for (const auto& [path, add] : next->files) {
    if (!cached || cached->files.count(path) == 0) {
      if (path.find("://") == std::string::npos && path.rfind('/', 0) != 0) {
        added.emplace_back(KeyOfPath(path), add.size);
      }
    }
  }
  st = CheckAddedFiles(added);
  if (!st.ok()) {
    return Refuse(st.WithMessage("version ", next->version, " of the ", format(), " log of ",
                                 store_->url(), ": ", st.message()),
                  from);
  }
  Publish(next);
  return std::shared_ptr<const Snapshot>(std::move(next));
}

}  // namespace arrowport::lake
