// The SQLite form of a DuckLake catalog (one node): libsqlite3, the database's own library.

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>

#include "arrowport/common/status_detail.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/lake/catalog_connection.h"

namespace arrowport::lake {

namespace {

using Clock = std::chrono::steady_clock;

// A statement of a call waits this long for another process's lock (a commit is short)
// before it fails as retryable, unless the call ends first. Work no call waits on (the
// refresh thread, upkeep) tries again on its next round instead: it gives up sooner, and
// a call that comes meanwhile waits on its own, bounded by its own deadline, rather than
// behind it.
constexpr std::chrono::milliseconds kBusyTimeout{30000};
constexpr std::chrono::milliseconds kBackgroundBusyTimeout{2000};

// The file at `path` now: "DEVICE:INODE", or "" when there is none.
std::string FileIdentity(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return "";
  return std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino);
}

// Whether the current thread serves a call (ThreadCancellation).
bool ServesCall(const ThreadCancellation& call) {
  return call.cancellation != nullptr || call.deadline || call.interrupted;
}

// Whether the current thread's call wants its work to stop: cancelled, its deadline
// passed, or its reply due.
bool CallEnding(const ThreadCancellation& call) {
  if (call.cancellation != nullptr && call.cancellation->cancelled()) return true;
  if (call.deadline && Clock::now() >= *call.deadline) return true;
  return call.interrupted && call.interrupted();
}

class SqliteCatalog final : public CatalogConnection {
 public:
  SqliteCatalog(sqlite3* db, std::string path)
      : db_(db), name_(std::move(path)), identity_(FileIdentity(name_)) {
    // Instead of sqlite3_busy_timeout, which sleeps through a call's end.
    sqlite3_busy_handler(db_, &SqliteCatalog::WaitForLock, this);
  }
  ~SqliteCatalog() override {
    Rollback();
    sqlite3_close_v2(db_);
  }

  arrow::Result<std::vector<CatalogRow>> Query(const std::string& sql,
                                               const std::vector<CatalogValue>& params) override {
    std::vector<CatalogRow> rows;
    ARROW_RETURN_NOT_OK(Run(sql, params, &rows));
    return rows;
  }

  arrow::Result<int64_t> Execute(const std::string& sql,
                                 const std::vector<CatalogValue>& params) override {
    ARROW_RETURN_NOT_OK(Run(sql, params, nullptr));
    return static_cast<int64_t>(sqlite3_changes64(db_));
  }

  arrow::Status Begin() override {
    ARROW_RETURN_NOT_OK(Run("BEGIN IMMEDIATE", {}, nullptr));
    open_ = true;
    return arrow::Status::OK();
  }
  arrow::Status BeginRead() override {
    ARROW_RETURN_NOT_OK(Run("BEGIN", {}, nullptr));  // deferred: a shared lock at the first read
    open_ = true;
    return arrow::Status::OK();
  }
  arrow::Status Commit() override {
    auto st = Run("COMMIT", {}, nullptr);
    if (st.ok()) open_ = false;
    return st;
  }
  void Rollback() override {
    if (!open_) return;
    open_ = false;
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  // A catalog file deleted or replaced at its path (a restore, `mv` of another catalog)
  // while this connection kept the old one open: what it reads is no longer the lake's,
  // and what it commits is lost. A stat is a microsecond.
  bool healthy() const override {
    return identity_.empty() || FileIdentity(name_) == identity_;
  }
  const char* dialect() const override { return "sqlite"; }
  const std::string& name() const override { return name_; }
  std::string file_identity() const override { return identity_; }

 private:
  // SQLite's busy handler: true to try again after a pause. Gives up after the busy
  // timeout, or at once when the call the thread serves ends (its client gone, its
  // deadline, its reply due).
  static int WaitForLock(void* self_pointer, int attempts) {
    auto* self = static_cast<SqliteCatalog*>(self_pointer);
    const auto now = Clock::now();
    if (attempts == 0) self->waiting_since_ = now;
    const ThreadCancellation call = ThreadCancellation::Current();
    if (CallEnding(call)) {
      self->gave_up_ = "until the call's end";
      return 0;
    }
    const bool serves_call = ServesCall(call);
    const auto limit = serves_call ? kBusyTimeout : kBackgroundBusyTimeout;
    if (now - self->waiting_since_ >= limit) {
      self->gave_up_ = serves_call ? "the catalog's busy timeout"
                                   : "the busy timeout of background work";
      return 0;
    }
    // Short sleeps at first (a commit takes milliseconds), then 50 ms: the call's end is
    // seen within 50 ms.
    const int pause_ms = std::min(50, 1 << std::min(attempts, 6));
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    return 1;
  }

  arrow::Status Error(int code, const std::string& sql) const {
    const std::string in = " (in: " + sql.substr(0, 80) + ")";
    const int primary = code & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
      const double waited =
          std::chrono::duration<double>(Clock::now() - waiting_since_).count();
      char seconds[32];
      std::snprintf(seconds, sizeof(seconds), "%.1f", waited);
      return WithErrorKind(
          arrow::Status::IOError(
              "the DuckLake catalog ", name_, " is locked by another process (SQLite: ",
              sqlite3_errmsg(db_), "); waited ", seconds, " s, ",
              gave_up_.empty() ? "SQLite would not wait (where waiting could deadlock)"
                               : gave_up_,
              ": retry once that process ends its transaction", in),
          ErrorKind::kCatalogLocked, 1);
    }
    const std::string what =
        std::string("the DuckLake catalog ") + name_ + ": " + sqlite3_errmsg(db_) + in;
    if (code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE) {
      return arrow::Status::AlreadyExists(what);
    }
    if (primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_CANTOPEN ||
        primary == SQLITE_READONLY || primary == SQLITE_NOMEM) {
      return arrow::Status::IOError(what);
    }
    return arrow::Status::Invalid(what);
  }

  arrow::Status Run(const std::string& sql, const std::vector<CatalogValue>& params,
                    std::vector<CatalogRow>* rows) {
    gave_up_.clear();
    waiting_since_ = Clock::now();
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
    if (rc != SQLITE_OK) return Error(rc, sql);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> statement(raw, sqlite3_finalize);
    for (size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      rc = params[i] ? sqlite3_bind_text64(raw, index, params[i]->data(), params[i]->size(),
                                           SQLITE_TRANSIENT, SQLITE_UTF8)
                     : sqlite3_bind_null(raw, index);
      if (rc != SQLITE_OK) return Error(rc, sql);
    }
    const int columns = sqlite3_column_count(raw);
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      if (rows == nullptr) continue;
      CatalogRow row(static_cast<size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        if (sqlite3_column_type(raw, c) == SQLITE_NULL) continue;
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, c));
        row[c] = std::string(text == nullptr ? "" : text,
                             static_cast<size_t>(sqlite3_column_bytes(raw, c)));
      }
      rows->push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return Error(sqlite3_extended_errcode(db_), sql);
    return arrow::Status::OK();
  }

  sqlite3* db_;
  const std::string name_;
  const std::string identity_;  // the file opened ("" if it could not be read)
  bool open_ = false;
  // The statement running now: when its wait for a lock began, and why it gave up.
  Clock::time_point waiting_since_;
  std::string gave_up_;
};

}  // namespace

arrow::Result<std::unique_ptr<CatalogConnection>> OpenSqliteCatalog(
    const std::string& path, bool create) {
  if (!create && FileIdentity(path).empty()) {
    // Made again, an empty catalog would stand for the lake: its tables gone, its next
    // commit the first snapshot of a new lake over the old files.
    return arrow::Status::IOError(
        "the DuckLake catalog ", path,
        " was deleted or moved away while the server ran: its tables are not written "
        "(nor read anew) until the catalog is back at that path (restore it; the server "
        "does not make an empty one in its place)");
  }
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                    SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return arrow::Status::IOError("opening the DuckLake catalog ", path, ": ", why);
  }
  sqlite3_extended_result_codes(db, 1);
  return std::make_unique<SqliteCatalog>(db, path);
}

}  // namespace arrowport::lake
