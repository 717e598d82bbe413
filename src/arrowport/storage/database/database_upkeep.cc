// Database's background upkeep (database.h): checkpoints when the WAL is due and the disk
// has room, the disk watch, and reopening a database DuckDB invalidated.
#include <duckdb.h>

#include <chrono>
#include <mutex>
#include <vector>

#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/database_impl.h"
#include "arrowport/storage/core/duckdb_error.h"

namespace arrowport::storage {

namespace {
// How long after a failed attempt to open an invalidated database again the next one is.
constexpr auto kReopenRetry = std::chrono::seconds(5);
// While an invalidated database waits for its last connections, how often that is said.
constexpr auto kReopenWaitReport = std::chrono::seconds(10);
}  // namespace

arrow::Status Database::Checkpoint() {
  // A checkpoint DuckDB cannot finish for want of space invalidates the database.
  ARROW_RETURN_NOT_OK(CheckpointRoom());
  ARROW_ASSIGN_OR_RAISE(auto conn, Connect());
  std::lock_guard<std::mutex> one_at_a_time(impl_->checkpoint_mutex);
  AllocationGuard::Suspension suspended;
  AllocationGuard::CommitScope checkpointing;  // nothing of this thread's is refused
  return conn->Execute("CHECKPOINT");
}

Database::CheckpointerState Database::checkpointer_state() const {
  std::lock_guard<std::mutex> lock(impl_->checkpointer_mutex);
  return impl_->state;
}

bool Database::CheckpointWaits() const {
  if (checkpointer_state().failures_in_a_row == 0) return false;
  {
    // Deferred for disk space, it waits for no transaction (its failure count is old).
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    if (impl_->health.checkpoint_deferred) return false;
  }
  return WalBytes() >= impl_->checkpoint_wal_bytes;
}

void Database::CheckpointSoon() {
  // Taken at the checkpointer's next tick (250 ms).
  std::lock_guard<std::mutex> lock(impl_->checkpointer_mutex);
  impl_->next_checkpoint = std::chrono::steady_clock::now();
}

int64_t Database::WalBytes() const {
  if (impl_->path == ":memory:") return 0;
  return FileBytes(impl_->path + ".wal");
}

arrow::Status Database::CheckWrite() {
  return impl_->disk ? impl_->disk->CheckWrite() : arrow::Status::OK();
}

arrow::Status Database::CheckpointRoom() {
  // A checkpoint of a database whose file is gone writes into the deleted file, then
  // removes the WAL by its path: a backup restored there lost its WAL (an attack run).
  if (!impl_->disk) return arrow::Status::OK();
  const DiskSpace space = impl_->disk->Check();
  if (!space.file_gone.empty()) {
    return arrow::Status::IOError("checkpoint refused: ", space.file_gone);
  }
  if (impl_->disk->min_free_bytes() <= 0) return arrow::Status::OK();
  const int64_t wal = WalBytes();
  const int64_t needed = space.needed_bytes + wal;
  if (space.free_bytes < 0 || space.free_bytes >= needed) return arrow::Status::OK();
  return DiskFull("checkpoint deferred: disk full: ", space.free_bytes >> 20,
                  " MiB free under ", space.path, ", a checkpoint of the ", wal >> 20,
                  " MiB write-ahead log needs ", needed >> 20,
                  " MiB (the log's size plus storage.min_free_mb); it runs by itself once "
                  "space is freed");
}

StorageHealth Database::Health() const {
  StorageHealth health;
  std::shared_ptr<Instance> instance;
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    health = impl_->health;
    instance = impl_->instance;
  }
  // Invalidated an instant ago (Connect already refuses): said so before the upkeep tick.
  if (instance != nullptr && !health.reopening) {
    if (std::string why = instance->InvalidatedBy(); !why.empty()) {
      health.reopening = true;
      health.invalidated_by = std::move(why);
    }
  }
  if (impl_->disk) health.disk = impl_->disk->Check();
  return health;
}

void Database::Event(const std::string& event, const std::string& detail) const {
  if (impl_->options.on_event) impl_->options.on_event(event, detail);
}

void Database::StartCheckpointer() {
  impl_->checkpointer = std::thread([this] { RunCheckpointer(); });
}

void Database::RunCheckpointer() {
  constexpr auto kPeriod = std::chrono::milliseconds(250);
  std::unique_lock<std::mutex> lock(impl_->checkpointer_mutex);
  while (!impl_->stopping) {
    impl_->checkpointer_wake.wait_for(lock, kPeriod, [this] { return impl_->stopping; });
    if (impl_->stopping) break;
    lock.unlock();
    WatchDisk();
    std::shared_ptr<Instance> instance;
    {
      std::lock_guard<std::mutex> guard(impl_->instance_mutex);
      instance = impl_->instance;
    }
    std::string reason;
    if (instance == nullptr) {
      (void)TryReopen();
    } else if (Invalidated(instance, &reason)) {
      instance.reset();  // the upkeep thread holds no connection of it
      BeginReopen(reason);
    } else {
      instance.reset();
      CheckpointIfDue();
    }
    lock.lock();
  }
}

void Database::WatchDisk() {
  if (!impl_->disk) return;
  const DiskSpace space = impl_->disk->Check();
  if (!space.file_gone.empty() && !impl_->file_gone_said) {
    Event("database file gone: writes refused until the server is restarted", space.file_gone);
  } else if (space.file_gone.empty() && impl_->file_gone_said) {
    Event("database file back at its path: writes resume", impl_->path);
  }
  impl_->file_gone_said = !space.file_gone.empty();
  if (space.full && !impl_->disk_full_said) {
    Event("disk full: writes refused and checkpoints deferred until space is freed",
          DiskFullMessage(space));
  } else if (!space.full && impl_->disk_full_said) {
    Event("disk space back: writes resume",
          std::to_string(space.free_bytes >> 20) + " MiB free under " + space.path);
  }
  impl_->disk_full_said = space.full;
}

void Database::CheckpointIfDue() {
  const auto now = std::chrono::steady_clock::now();
  const bool due = WalBytes() >= impl_->checkpoint_wal_bytes;
  const bool no_room = due && !CheckpointRoom().ok();
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    impl_->health.checkpoint_deferred = no_room;
  }
  if (!due || no_room) return;
  if (impl_->copies_running.load() > 0) return;  // a backup's copy holds the checkpoint
  {
    std::lock_guard<std::mutex> lock(impl_->checkpointer_mutex);  // CheckpointSoon writes it
    if (now < impl_->next_checkpoint) return;
  }
  auto st = Checkpoint();
  std::lock_guard<std::mutex> lock(impl_->checkpointer_mutex);
  if (st.ok()) {
    impl_->state.failures_in_a_row = 0;
    return;
  }
  ++impl_->state.failures_in_a_row;
  impl_->state.last_error = st.message();
  // After failures (a transaction in DuckDB's way), each attempt waits twice as long, up
  // to 30 s.
  const int64_t failures = std::min<int64_t>(impl_->state.failures_in_a_row, 7);
  impl_->next_checkpoint =
      now + std::min<std::chrono::milliseconds>(
                std::chrono::milliseconds(250) * (int64_t{1} << failures),
                std::chrono::seconds(30));
}

bool Database::Invalidated(const std::shared_ptr<Instance>& instance, std::string* reason) {
  // DuckDB's own flags where its C++ API is usable: asked as a statement, 4 times a
  // second, the question cost an idle server 1 % of a core (a connection, a parse, the
  // optimizer's rules made anew, each time).
  if (instance->invalidation) {
    *reason = instance->InvalidatedBy();
    return !reason->empty();
  }
  // Every statement fails on an invalidated database, SELECT 1 included, with DuckDB's
  // words and the error that invalidated it.
  auto conn = ConnectTo(instance);
  arrow::Status st = conn.ok() ? (*conn)->Execute("SELECT 1") : conn.status();
  if (st.ok() || st.message().find("invalidated") == std::string::npos) return false;
  *reason = st.message();
  return true;
}

void Database::BeginReopen(const std::string& reason) {
  // Closed outside the lock (the reopen waits for them); let go with the instance, so
  // that no read is lent one of the old instance once it is given up.
  std::unique_ptr<Connection> idle_catalog;
  std::vector<std::unique_ptr<Connection::Impl>> kept_reads;
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    if (impl_->instance == nullptr) return;
    idle_catalog = std::move(impl_->idle_catalog);
    kept_reads = impl_->kept_reads->Serve(nullptr);
    impl_->closing = impl_->instance;
    impl_->closing_duckdb_alive = impl_->instance->duckdb_alive;
    impl_->instance.reset();
    impl_->health.reopening = true;
    impl_->health.invalidated_by = reason;
    impl_->health.reopen_error.clear();
    impl_->next_reopen = std::chrono::steady_clock::now();
    impl_->reopen_reported = impl_->next_reopen;
  }
  kept_reads.clear();
  Event("database invalidated by DuckDB: reopening it once its connections are closed "
        "(calls are refused meanwhile)",
        reason);
  if (impl_->options.on_invalidated) impl_->options.on_invalidated();
}

bool Database::TryReopen() {
  const auto now = std::chrono::steady_clock::now();
  std::function<bool()> duckdb_alive;
  {
    std::lock_guard<std::mutex> lock(impl_->instance_mutex);
    if (now < impl_->next_reopen) return false;
    const long users = impl_->closing.use_count();
    duckdb_alive = impl_->closing_duckdb_alive;
    if (users > 0 || (duckdb_alive && duckdb_alive())) {
      if (now - impl_->reopen_reported >= kReopenWaitReport) {
        impl_->reopen_reported = now;
        Event("database reopen waits for connections of the invalidated database",
              std::to_string(users) + " still open");
      }
      return false;
    }
  }
  // Opened again at a path whose file is gone, DuckDB would begin an empty database there.
  const std::string gone = impl_->disk ? impl_->disk->Check().file_gone : "";
  arrow::Result<std::shared_ptr<Instance>> opened = arrow::Status::IOError(gone);
  if (gone.empty()) opened = OpenInstance();
  std::lock_guard<std::mutex> lock(impl_->instance_mutex);
  if (!opened.ok()) {
    impl_->health.reopen_error = opened.status().message();
    impl_->next_reopen = now + kReopenRetry;
    Event("database reopen failed; trying again", opened.status().message());
    return false;
  }
  (void)impl_->kept_reads->Serve(opened->get());  // none kept while it was reopened
  impl_->instance = std::move(*opened);
  impl_->closing_duckdb_alive = nullptr;
  impl_->health.reopening = false;
  ++impl_->health.reopens;
  impl_->health.last_reopen_unix = static_cast<int64_t>(std::time(nullptr));
  impl_->health.last_reopen_after = std::move(impl_->health.invalidated_by);
  impl_->health.invalidated_by.clear();
  impl_->health.reopen_error.clear();
  Event("database reopened", "after: " + impl_->health.last_reopen_after);
  return true;
}

}  // namespace arrowport::storage
