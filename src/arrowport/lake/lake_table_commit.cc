// LakeTable's commits (lake_table.h: Commit): put-if-absent of the next version, re-planned
// on top of the winners after a lost race; an answer lost on the way resolved by reading
// the log back; the files of commits with no verdict remembered for vacuum.
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "arrowport/common/status_detail.h"
#include "arrowport/lake/lake_files.h"
#include "arrowport/lake/lake_table.h"

namespace arrowport::lake {

namespace {

CommitResult NotLanded(arrow::Status why) {
  return CommitResult{CommitOutcome::kNotLanded, -1, std::move(why)};
}

}  // namespace

CommitResult LakeTable::Commit(const Planner& plan) {
  auto latest = Latest();
  if (!latest.ok()) return NotLanded(latest.status());
  // Planned on as it is (immutable); copied only to make a newer version.
  std::shared_ptr<const Snapshot> base = *latest;
  WonCommits won;
  thread_local std::mt19937 jitter{std::random_device{}()};
  for (int64_t attempt = 1;; ++attempt) {
    auto planned = plan(*base, won);
    if (!planned.ok()) return NotLanded(planned.status());
    std::optional<CommitActions>& commit = *planned;
    if (!commit) return CommitResult{CommitOutcome::kNothing, -1, arrow::Status::OK()};
    log_->Seal(*base, &*commit);
    const int64_t version = base->version + 1;
    auto landed = log_->CommitAt(version, *commit);
    if (landed.ok()) {
      // Landed: nothing after this may fail the request (its files are the table's now).
      auto next = CopyOf(*base);
      if (log_->Landed(next.get(), *commit, *landed).ok()) Publish(std::move(next));
      std::lock_guard<std::mutex> lock(mutex_);
      ++commits_;
      return CommitResult{CommitOutcome::kLanded, *landed, arrow::Status::OK()};
    }
    const arrow::Status st = landed.status();
    // A refusal the log states itself (a DuckLake catalog transaction rolled back: a
    // newer format, a value it cannot hold, the catalog down before COMMIT) landed
    // nothing: no read-back can say otherwise.
    if (const auto* kind = GetErrorKind(st);
        st.IsNotImplemented() ||
        (kind != nullptr && kind->kind() != ErrorKind::kOutcomeUnknown)) {
      return NotLanded(st);
    }
    if (!objectstore::IsAlreadyExists(st)) {
      auto resolved = Resolve(*base, version, *commit, st);
      if (resolved && resolved->outcome == CommitOutcome::kUnknown) {
        RememberUnresolved(version, *commit);
      }
      if (resolved) return *resolved;
      // Another writer's commit holds the version: a lost race after all.
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++lost_races_;
    }
    if (attempt >= config_.max_commit_attempts) {
      return NotLanded(RetryableConflict(
          "lost the race for the next ", format(), " commit of ", store_->url(), " ", attempt,
          " times in a row (other writers committed first); nothing of this request was "
          "committed"));
    }
    const int64_t first_new = won.size();
    if (auto ended = CatchUp(&base, &won, version, *commit)) return *ended;
    if (static_cast<int64_t>(won.size()) == first_new) {
      // The winner's file is not listed yet (an eventually consistent listing): wait.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::uniform_int_distribution<int> pause_ms(0, std::min<int>(50, 1 + attempt * 2));
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(jitter)));
  }
}

std::optional<CommitResult> LakeTable::CatchUp(std::shared_ptr<const Snapshot>* base,
                                               WonCommits* won, int64_t version,
                                               const CommitActions& commit) {
  // Another writer has this version: read what it (and any after it) did, then
  // re-plan on top. A short random pause keeps writers from colliding in lockstep.
  const int64_t first_new = won->size();
  const int64_t from = (*base)->version;
  auto newer = CopyOf(**base);
  auto updated = log_->Update(newer.get(), won);
  *base = newer;
  if (!updated.ok()) {
    // The store said the version was taken (put-if-absent held: ours is not there), and
    // the re-read failed: a log at fault refuses the table; the store's trouble keeps
    // its kind (retried later). Nothing of ours was committed either way.
    auto why = Refuse(updated.WithMessage("reading the ", format(), " log of ", store_->url(),
                                          " after losing the race for version ", version,
                                          ": ", updated.message(),
                                          " (nothing of this request was committed)"),
                      from);
    if (!HasErrorKind(why, ErrorKind::kTableRefused)) {
      why = WithErrorKind(why, ErrorKind::kStoreUnavailable);
    }
    return NotLanded(std::move(why));
  }
  // What the winners added must be there before anything is planned on top of it.
  std::vector<std::pair<std::string, int64_t>> added;
  for (size_t i = static_cast<size_t>(first_new); i < won->size(); ++i) {
    for (const auto& add : (*won)[i].second.adds) {
      if ((*base)->files.count(add.path) != 0 && add.path.find("://") == std::string::npos &&
          add.path.rfind('/', 0) != 0) {
        added.emplace_back(KeyOfPath(add.path), add.size);
      }
    }
  }
  auto checked = CheckAddedFiles(added);
  if (!checked.ok()) {
    return NotLanded(Refuse(checked.WithMessage("version ", (*base)->version,
                                                 " of the ", format(), " log of ", store_->url(),
                                                 ": ", checked.message()),
                             from));
  }
  Publish(*base);
  // "Already exists" may be our own attempt landing (an answer lost, a retried PUT):
  // then it is ours, not a lost race.
  for (size_t i = static_cast<size_t>(first_new); i < won->size(); ++i) {
    if (!commit.txn_id.empty() && (*won)[i].second.txn_id == commit.txn_id) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++commits_;
      return CommitResult{CommitOutcome::kLanded, (*won)[i].first, arrow::Status::OK()};
    }
  }
  return std::nullopt;
}

std::optional<CommitResult> LakeTable::Resolve(const Snapshot& base, int64_t version,
                                               const CommitActions& commit,
                                               const arrow::Status& put_error) {
  // The store's answer may be lost after the commit landed, or the PUT may still land
  // (a request the store has yet to finish): only the log can say. Ours there: landed.
  // Another commit at our version: ours never can (put-if-absent), a lost race. Else:
  // unknown.
  auto landed = CopyOf(base);
  WonCommits after;
  auto reread = log_->Update(landed.get(), &after);
  if (reread.ok() && !commit.txn_id.empty()) {
    for (const auto& [v, c] : after) {
      if (c.txn_id == commit.txn_id) {
        Publish(landed);
        std::lock_guard<std::mutex> lock(mutex_);
        ++commits_;
        return CommitResult{CommitOutcome::kLanded, v, arrow::Status::OK()};
      }
    }
    for (const auto& [v, c] : after) {
      if (v == version && log_->version_taken_once()) return std::nullopt;
    }
  }
  const std::string reread_error =
      reread.ok() ? std::string(" (the log does not hold it yet)")
                  : " (reading the log back failed too: " + reread.message() + ")";
  return CommitResult{CommitOutcome::kUnknown, -1,
                      OutcomeUnknown("the commit of version ", version, " to ",
                                     store_->url(), " may or may not have landed: ",
                                     put_error.message(), reread_error,
                                     "; outcome unknown, retry with the same "
                                     "request id")};
}

arrow::Status LakeTable::CheckConditionalWrites() {
  if (!store_->NeedsConditionalWriteProbe()) return arrow::Status::OK();
  std::unique_lock<std::timed_mutex> lock(probe_mutex_, std::defer_lock);
  ARROW_RETURN_NOT_OK(LockUnlessCancelled(lock));
  if (conditional_writes_checked_) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(ProbeConditionalWrites());
  conditional_writes_checked_ = true;
  return arrow::Status::OK();
}

arrow::Status LakeTable::ProbeConditionalWrites() {
  // Outside _delta_log/ (Delta readers ignore it) and not a data file (vacuum keeps
  // away): a key of its own for each probe, removed after.
  const std::string key = "_arrowport/conditional-write-probe-" + NewUuid();
  const auto store_error = [&](const arrow::Status& st) {
    return st.WithMessage("probing conditional writes on ", store_->url(), ": ",
                          st.message());
  };
  arrow::Status racing[2];
  {
    // The racing put obeys the caller's cancellation too: a caller whose client left
    // would otherwise wait here for it, holding probe_mutex_.
    std::thread other([&, limits = ThreadCancellation::Current()] {
      ThreadCancellationScope scope(limits);
      racing[1] = store_->PutIfAbsent(key, arrow::Buffer::FromString("b"));
    });
    racing[0] = store_->PutIfAbsent(key, arrow::Buffer::FromString("a"));
    other.join();
  }
  int succeeded = 0;
  for (const auto& st : racing) {
    // A failing store is not a verdict (and the probe key is left: the store is down).
    if (!st.ok() && !objectstore::IsAlreadyExists(st)) return store_error(st);
    succeeded += st.ok() ? 1 : 0;
  }
  const arrow::Status third = store_->PutIfAbsent(key, arrow::Buffer::FromString("c"));
  (void)store_->Delete(key);
  if (!third.ok() && !objectstore::IsAlreadyExists(third)) return store_error(third);
  succeeded += third.ok() ? 1 : 0;
  if (succeeded == 1) return arrow::Status::OK();
  return arrow::Status::Invalid(
      "the store at ", store_->url(), " does not honour conditional writes: ", succeeded,
      " of 3 PUTs with If-None-Match: * of the probe key ", key, " succeeded (one may). "
      "Two writers could then overwrite each other's Delta commits and lose rows, so "
      "nothing is written to this table: use a store that honours conditional writes "
      "(AWS S3, MinIO and most S3-compatible stores do). See s3.conditional_writes");
}

int64_t LakeTable::commits() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return commits_;
}

int64_t LakeTable::lost_races() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lost_races_;
}

bool LakeTable::VacuumDue() {
  const auto now = std::chrono::steady_clock::now();
  const auto every = std::chrono::seconds(
      std::max<int64_t>(1, std::min<int64_t>(600, config_.retention_s)));
  std::lock_guard<std::mutex> lock(mutex_);
  if (last_vacuum_ && now - *last_vacuum_ < every) return false;
  last_vacuum_ = now;
  return true;
}

void LakeTable::RememberUnresolved(int64_t version, const CommitActions& commit) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& add : commit.adds) {
    // Absolute paths and URLs are not ours to delete (vacuum lists the table only).
    if (add.path.find("://") != std::string::npos || add.path.rfind('/', 0) == 0) {
      continue;
    }
    unresolved_[KeyOfPath(add.path)] = version;
  }
}

std::set<std::string> LakeTable::UnresolvedFiles(int64_t latest_version) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::set<std::string> keys;
  for (auto it = unresolved_.begin(); it != unresolved_.end();) {
    if (it->second <= latest_version) {
      it = unresolved_.erase(it);
    } else {
      keys.insert(it->first);
      ++it;
    }
  }
  return keys;
}

}  // namespace arrowport::lake
