#include "arrowport/query/lake_service.h"

#include <algorithm>
#include <cctype>

#include "arrow/type.h"

#include "arrowport/common/identifier.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/lake/lake_maintenance.h"
#include "arrowport/query/lake_view_sql.h"
#include "arrowport/storage/database/database.h"


namespace arrowport::query {

namespace {

std::vector<const lake::AddFile*> AllFiles(const lake::Snapshot& snapshot) {
  std::vector<const lake::AddFile*> files;
  for (const auto& [path, add] : snapshot.files) files.push_back(&add);
  return files;
}

}  // namespace

LakeService::LakeService(storage::Database* database, storage::LakeStores stores,
                         lake::LakeCatalog* lakes, const config::RouteSource* router,
                         Logger* logger)
    : database_(database),
      stores_(std::move(stores)),
      lakes_(lakes),
      router_(router),
      logger_(logger) {}

LakeService::~LakeService() { Stop(); }

void LakeService::Committed(const std::string& stream) {
  const config::StreamConfig route = router_->Route(stream);
  if (route.sink != config::Sink::kLake) return;
  auto table = lakes_->Table(route.lake);
  if (!table.ok()) return;
  // A write that found the table refused: its view says so from now on (one listing of
  // the log confirms it has not moved on since).
  const bool refused = !(*table)->refusal().ok();
  auto st = Publish(stream, route, *table, /*read_store=*/refused);
  if (refused && HasErrorKind(st, ErrorKind::kTableRefused)) return;  // logged when found
  if (st.ok()) return;
  logger_->Warn("lake view not updated", {{"stream", stream}, {"error", st.message()}});
  // Nothing a retry changes (this DuckDB library cannot read lake tables; a refusal).
  if (st.IsNotImplemented() || HasErrorKind(st, ErrorKind::kTableRefused)) return;
  // Its call cancelled, or the store failing: the upkeep thread's next round tries again.
  std::lock_guard<std::mutex> lock(mutex_);
  Published& published = published_[stream];
  published.behind_retry = std::chrono::seconds(1);
  published.polled = {};
}

arrow::Status LakeService::Refresh(const std::string& stream) {
  const config::StreamConfig route = router_->Route(stream);
  if (route.sink != config::Sink::kLake) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto table, lakes_->Table(route.lake));
  try {
    return Publish(stream, route, table, /*read_store=*/true);
  } catch (const std::exception& e) {
    return arrow::Status::IOError("lake ", route.lake.url, ": ", e.what());
  }
}

std::string LakeService::StoreName(const std::string& url) {
  // Stores by URL: a stream pointed elsewhere by a reload gets a new name, so queries and
  // tickets of the old view keep reading the old table.
  std::lock_guard<std::mutex> lock(mutex_);
  auto named = store_names_.find(url);
  if (named == store_names_.end()) {
    named = store_names_.emplace(url, "lake" + std::to_string(store_names_.size())).first;
  }
  return named->second;
}

arrow::Result<std::unique_lock<std::timed_mutex>> LakeService::ReplacingLock(
    const std::string& url) {
  std::shared_ptr<std::timed_mutex> replacing;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& made = replacing_[url];
    if (!made) made = std::make_shared<std::timed_mutex>();
    replacing = made;  // never erased: the mutex outlives the lock
  }
  std::unique_lock<std::timed_mutex> held(*replacing, std::defer_lock);
  ARROW_RETURN_NOT_OK(LockUnlessCancelled(held));
  return held;
}

arrow::Status LakeService::PublishRefusal(const std::string& stream,
                                          const config::StreamConfig& route,
                                          const std::shared_ptr<lake::LakeTable>& table,
                                          const arrow::Status& why) {
  const std::string store = StoreName(route.lake.url);
  // Reads of its files fail with the reason from now on, the old view's included.
  stores_.Refuse(store, why.message());
  std::shared_ptr<const lake::Snapshot> snapshot;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Published& published = published_[stream];
    const bool made = published.state == kStateRefused &&
                      published.url == route.lake.url &&
                      published.table == route.target_table;
    published.state = kStateRefused;
    published.refusal = why;
    if (made || !database_->direct_append_enabled()) return why;
    snapshot = published.snapshot;
  }
  if (!snapshot) snapshot = table->Cached();
  // The view keeps its columns (those of the last snapshot read) and fails when read: a
  // prepared statement or another view over it gets the reason, not old rows.
  auto conn = database_->Connect();
  arrow::Status st = conn.status();
  if (st.ok()) {
    st = (*conn)->Execute("CREATE OR REPLACE VIEW main." + QuoteIdentifier(route.target_table) +
                          " AS " + LakeRefusedSql(store, snapshot ? snapshot->schema : nullptr));
  }
  if (!st.ok()) {
    logger_->Warn("lake view not replaced by its refusal",
                  {{"table", route.target_table}, {"error", st.message()}});
    return why;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Published& published = published_[stream];
  published.behind_retry = {};  // the view says so from now on
  published.url = route.lake.url;
  published.table = route.target_table;
  published.store = store;
  published.lake = table;
  published.version = -2;  // the next snapshot that loads is published
  return why;
}

arrow::Status LakeService::Publish(const std::string& stream, const config::StreamConfig& route,
                                   const std::shared_ptr<lake::LakeTable>& table,
                                   bool read_store) {
  // (Store requests run under the table's ReplacingLock only: lake_service.h.)
  const auto polled = [&] {
    if (!read_store) return;
    std::lock_guard<std::mutex> lock(mutex_);
    published_[stream].polled = std::chrono::steady_clock::now();
  };
  std::shared_ptr<const lake::Snapshot> snapshot;
  if (read_store) {
    auto latest = table->Latest();
    const auto call = ThreadCancellation::Current().cancellation;
    if (!latest.ok() && call != nullptr && call->cancelled()) {
      // The caller's own call ended (its client left, its deadline): says nothing of
      // the store, so the table's state stays as it is.
      return latest.status();
    }
    if (!latest.ok()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        Published& published = published_[stream];
        if (!HasErrorKind(latest.status(), ErrorKind::kTableRefused)) {
          published.polled = std::chrono::steady_clock::now();
          if (published.state != kStateRefused) published.state = kStateUnavailable;
          return latest.status();
        }
      }
      ARROW_ASSIGN_OR_RAISE(auto replacing, ReplacingLock(route.lake.url));
      auto why = PublishRefusal(stream, route, table, latest.status());
      polled();
      return why;
    }
    snapshot = *latest;
  } else {
    snapshot = table->Cached();
  }
  if (!snapshot || snapshot->version < 0) {
    // No table yet: that was read too (the store answered). The next look is refresh_ms
    // away, not the upkeep thread's next tick (it listed the store ten times a second per
    // unwritten stream).
    if (read_store) {
      std::lock_guard<std::mutex> lock(mutex_);
      Published& published = published_[stream];
      published.behind_retry = {};  // no table to show
      published.polled = std::chrono::steady_clock::now();
      if (published.state == kStateUnavailable) published.state = kStateOk;
    }
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto replacing, ReplacingLock(route.lake.url));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Published& published = published_[stream];
    if (read_store && published.state == kStateUnavailable) published.state = kStateOk;
    if (Shows(published, route.lake.url, *snapshot) && published.state != kStateRefused) {
      published.behind_retry = {};
      if (read_store) published.polled = std::chrono::steady_clock::now();
      return arrow::Status::OK();
    }
  }
  // What Arrowport or the view's SQL cannot read: said on every read, as a refusal.
  auto published = snapshot->CheckReadable();
  if (published.ok()) {
    if (!database_->direct_append_enabled()) {
      return arrow::Status::NotImplemented(
          "lake tables are read through DuckDB's C++ file system interface, which needs the "
          "DuckDB library Arrowport was built against (this one is ",
          storage::Database::LibraryVersion(), ")");
    }
    published = ReplaceView(stream, route, table, snapshot, read_store);
    if (!published.IsNotImplemented()) return published;
  }
  auto why = PublishRefusal(stream, route, table, TableRefused(
      "the ", table->format(), " table at ", route.lake.url, " is refused for reading: ",
      published.message()));
  polled();
  return why;
}

bool LakeService::Shows(const Published& published, const std::string& url,
                        const lake::Snapshot& snapshot) {
  // (A DuckLake catalog replaced at its path starts its versions anew.)
  return published.url == url && published.version >= snapshot.version &&
         (!published.snapshot || published.snapshot->SameLog(snapshot));
}

// Registers the snapshot's files (and those of the snapshots kept) with the store and
// replaces the view over them. The caller holds the table's ReplacingLock.
arrow::Status LakeService::ReplaceView(const std::string& stream,
                                       const config::StreamConfig& route,
                                       const std::shared_ptr<lake::LakeTable>& table,
                                       const std::shared_ptr<const lake::Snapshot>& snapshot,
                                       bool read_store) {
  const std::string store = StoreName(route.lake.url);
  storage::LakeServed served;
  for (const auto& kept : table->Kept()) AddServed(*kept, &served);
  AddServed(*snapshot, &served);
  stores_.Register(store, table->shared_store(), served);
  ARROW_ASSIGN_OR_RAISE(auto select,
                        LakeSelectSql(stores_, store, *snapshot, AllFiles(*snapshot)));
  // The DDL binds the view, which reads every file's footer from the store: on DuckDB's
  // threads too, for the call that committed (if any), which ends them when it goes.
  ARROW_ASSIGN_OR_RAISE(auto conn, database_->Connect());
  auto interrupt = conn->InterruptOn(ThreadCancellation::Current().cancellation);
  auto st = conn->Execute("CREATE OR REPLACE VIEW main." + QuoteIdentifier(route.target_table) +
                          " AS " + select);
  if (!st.ok()) {
    return st.WithMessage("the view ", route.target_table, " of lake ", route.lake.url, ": ",
                          st.message());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Published& published = published_[stream];
  published.url = route.lake.url;
  published.version = snapshot->version;
  published.table = route.target_table;
  published.snapshot = snapshot;
  published.lake = table;
  published.store = store;
  published.state = kStateOk;
  published.behind_retry = {};
  published.refusal = arrow::Status::OK();
  if (read_store) published.polled = std::chrono::steady_clock::now();
  return arrow::Status::OK();
}

bool LakeService::BehindItsTable(Published& published, const std::string& url) {
  // A write may have found what no poll has yet (a refusal, a newer commit), or a reload
  // pointed the stream at another table: a read after that must not see less, however
  // recent the last poll. Once for each such state: a refresh that failed is tried again
  // after its back-off, not by every query.
  std::string state;
  if (published.url != url) {
    state = "table " + url;
  } else if (!published.lake || published.state == kStateRefused) {
    return false;
  } else if (auto refusal = published.lake->refusal(); !refusal.ok()) {
    state = "refused: " + refusal.message();
  } else {
    auto cached = published.lake->Cached();
    if (!cached || cached->version <= published.version) return false;
    state = "version " + std::to_string(cached->version);
  }
  if (published.chased == state) return false;
  published.chased = std::move(state);
  return true;
}

arrow::Status LakeService::RefreshReferenced(const std::string& text) {
  // A refresh that failed this recently is not tried again for the next query. A
  // successful poll, however recent, is no excuse: another writer's commit can land right
  // after it (a commit 20 ms after a poll went unseen); queries at once still share one
  // log read (LakeTable::Latest answers each with the first read that starts after it).
  constexpr auto kRetryAfterFailure = std::chrono::milliseconds(20);
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  if (!any_lake_.load()) return arrow::Status::OK();  // no lake stream in the routing
  const std::string haystack = lower(text);
  const auto mentions = [&](const std::string& table) {
    // A mention as a whole word (even in a string or comment) only costs a log read.
    const std::string name = lower(table);
    for (size_t at = haystack.find(name); at != std::string::npos;
         at = haystack.find(name, at + 1)) {
      const auto word = [&](size_t i) {
        return i < haystack.size() &&
               (std::isalnum(static_cast<unsigned char>(haystack[i])) || haystack[i] == '_');
      };
      if ((at == 0 || !word(at - 1)) && !word(at + name.size())) return true;
    }
    return false;
  };
  std::vector<std::string> streams;
  arrow::Status stop;  // what the caller's query must fail with (OK: none)
  const auto now = std::chrono::steady_clock::now();
  // Every lake stream of the routing (one not published yet included: its first query
  // makes its view).
  for (const auto& [stream, route] : router_->Routes()) {
    if (route.sink != config::Sink::kLake || !mentions(route.target_table)) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = published_.find(stream);
    // (A locked catalog is asked again: the lock may be gone, and a read never serves
    // the view while its holder may be changing it.)
    if (it != published_.end() && now - it->second.refresh_failed < kRetryAfterFailure &&
        !it->second.refresh_locked && !BehindItsTable(it->second, route.lake.url)) {
      continue;
    }
    streams.push_back(stream);
  }
  const auto call = ThreadCancellation::Current().cancellation;
  for (const auto& stream : streams) {
    auto st = Refresh(stream);
    // A locked catalog is being changed by its holder: the view's rows may be what it
    // undoes or replaces, and SQLite's own readers wait for it too. A refresh the call's
    // end cut says what it waited for.
    const bool locked = HasErrorKind(st, ErrorKind::kCatalogLocked);
    if (stop.ok() && !st.ok() && (locked || (call && call->cancelled()))) stop = st;
    if (!st.ok()) {
      logger_->Warn("lake refresh failed", {{"stream", stream}, {"error", st.message()}});
    }
    std::lock_guard<std::mutex> lock(mutex_);
    Published& published = published_[stream];
    published.refresh_locked = locked;
    // A failing store is not asked again at once.
    if (!st.ok()) published.refresh_failed = std::chrono::steady_clock::now();
  }
  return stop;
}

std::vector<LakeService::Figures> LakeService::figures() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Figures> out;
  for (const auto& [stream, published] : published_) {
    Figures f;
    f.stream = stream;
    f.table = published.table;
    f.url = published.url;
    f.state = published.state;
    if (!published.refusal.ok()) f.error = published.refusal.message();
    if (published.snapshot) {
      f.version = published.snapshot->version;
      f.files = static_cast<int64_t>(published.snapshot->files.size());
      for (const auto& [path, add] : published.snapshot->files) f.bytes += add.size;
    }
    if (published.lake) {
      f.commits = published.lake->commits();
      f.lost_races = published.lake->lost_races();
      f.snapshot_copies = published.lake->snapshot_copies();
      f.snapshot_bytes = published.lake->kept_bytes();
      f.upkeep = published.lake->upkeep().Report(lake::UpkeepHealth::Clock::now());
    }
    out.push_back(std::move(f));
  }
  return out;
}


}  // namespace arrowport::query
