// The SQLite form of a DuckLake catalog (one node): libsqlite3, the database's own library.

#include <sqlite3.h>

#include <utility>

#include "arrowport/lake/catalog_connection.h"

namespace arrowport::lake {

namespace {

// A writer waits this long for another's write lock (a commit is short) before the
// commit fails as retryable.
constexpr int kBusyTimeoutMs = 30000;

class SqliteCatalog final : public CatalogConnection {
 public:
  SqliteCatalog(sqlite3* db, std::string name) : db_(db), name_(std::move(name)) {}
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
  bool healthy() const override { return true; }
  const char* dialect() const override { return "sqlite"; }
  const std::string& name() const override { return name_; }

 private:
  arrow::Status Error(int code, const std::string& sql) const {
    const std::string what = std::string("the DuckLake catalog ") + name_ + ": " +
                             sqlite3_errmsg(db_) + " (in: " + sql.substr(0, 80) + ")";
    const int primary = code & 0xff;
    if (code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE) {
      return arrow::Status::AlreadyExists(what);
    }
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR ||
        primary == SQLITE_FULL || primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY ||
        primary == SQLITE_NOMEM) {
      return arrow::Status::IOError(what);
    }
    return arrow::Status::Invalid(what);
  }

  arrow::Status Run(const std::string& sql, const std::vector<CatalogValue>& params,
                    std::vector<CatalogRow>* rows) {
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
  bool open_ = false;
};

}  // namespace

arrow::Result<std::unique_ptr<CatalogConnection>> OpenSqliteCatalog(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                     SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE,
                                 nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return arrow::Status::IOError("opening the DuckLake catalog ", path, ": ", why);
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);
  return std::make_unique<SqliteCatalog>(db, path);
}

}  // namespace arrowport::lake
