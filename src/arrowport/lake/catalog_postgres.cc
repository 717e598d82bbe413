// The PostgreSQL form of a DuckLake catalog (several nodes): libpq, the server's own client
// library. Parameters go as text with the server inferring their types ($1, $2, ...).

#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "arrowport/common/ca_certificates.h"
#include "arrowport/lake/catalog_connection.h"

namespace arrowport::lake {

namespace {

// SQLSTATE of a unique key violated (another writer's commit took the snapshot id) and
// of serialization failures and deadlocks (retry the whole commit).
constexpr const char* kUniqueViolation = "23505";
constexpr const char* kSerializationFailure = "40001";
constexpr const char* kDeadlock = "40P01";
// Two writers making a new catalog at once: the loser's CREATE TABLE finds the winner's.
constexpr const char* kDuplicateTable = "42P07";

// `?` placeholders -> $1, $2, ... (our statements hold no `?` in literals).
std::string Numbered(const std::string& sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (char c : sql) {
    if (c == '?') {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

class PostgresCatalog final : public CatalogConnection {
 public:
  PostgresCatalog(PGconn* conn, std::string name) : conn_(conn), name_(std::move(name)) {}
  ~PostgresCatalog() override {
    Rollback();
    PQfinish(conn_);
  }

  arrow::Result<std::vector<CatalogRow>> Query(const std::string& sql,
                                               const std::vector<CatalogValue>& params) override {
    std::vector<CatalogRow> rows;
    ARROW_RETURN_NOT_OK(Run(sql, params, &rows, nullptr));
    return rows;
  }

  arrow::Result<int64_t> Execute(const std::string& sql,
                                 const std::vector<CatalogValue>& params) override {
    int64_t changed = 0;
    ARROW_RETURN_NOT_OK(Run(sql, params, nullptr, &changed));
    return changed;
  }

  arrow::Status Begin() override {
    ARROW_RETURN_NOT_OK(Run("BEGIN", {}, nullptr, nullptr));
    open_ = true;
    return arrow::Status::OK();
  }
  arrow::Status BeginRead() override {
    ARROW_RETURN_NOT_OK(
        Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}, nullptr, nullptr));
    open_ = true;
    return arrow::Status::OK();
  }
  arrow::Status Commit() override {
    auto st = Run("COMMIT", {}, nullptr, nullptr);
    open_ = false;
    return st;
  }
  void Rollback() override {
    if (!open_) return;
    open_ = false;
    if (PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
  }
  bool healthy() const override { return PQstatus(conn_) == CONNECTION_OK; }
  const char* dialect() const override { return "postgres"; }
  const std::string& name() const override { return name_; }

 private:
  arrow::Status Run(const std::string& sql, const std::vector<CatalogValue>& params,
                    std::vector<CatalogRow>* rows, int64_t* changed) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      return arrow::Status::IOError("the DuckLake catalog ", name_,
                                    ": the connection to PostgreSQL is lost");
    }
    std::vector<const char*> values;
    std::vector<int> lengths;
    for (const auto& param : params) {
      // libpq sends text parameters up to their first NUL: refused, never cut.
      if (param && param->find('\0') != std::string::npos) {
        return arrow::Status::Invalid("the DuckLake catalog ", name_,
                                      ": PostgreSQL text cannot hold a NUL byte");
      }
      values.push_back(param ? param->c_str() : nullptr);
      lengths.push_back(param ? static_cast<int>(param->size()) : 0);
    }
    const std::string text = params.empty() ? sql : Numbered(sql);
    std::unique_ptr<PGresult, void (*)(PGresult*)> result(
        PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                     values.data(), lengths.data(), nullptr, 0),
        PQclear);
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
      std::string message = result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn_);
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.pop_back();
      }
      const std::string what = "the DuckLake catalog " + name_ + ": " + message +
                               " (in: " + sql.substr(0, 80) + ")";
      if (state != nullptr && (std::strcmp(state, kUniqueViolation) == 0 ||
                               std::strcmp(state, kDuplicateTable) == 0)) {
        return arrow::Status::AlreadyExists(what);
      }
      if (state == nullptr || PQstatus(conn_) != CONNECTION_OK ||
          std::strcmp(state, kSerializationFailure) == 0 || std::strcmp(state, kDeadlock) == 0 ||
          std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "53", 2) == 0 ||
          std::strncmp(state, "57", 2) == 0) {
        return arrow::Status::IOError(what);
      }
      return arrow::Status::Invalid(what);
    }
    if (changed != nullptr) {
      const char* tuples = PQcmdTuples(result.get());
      *changed = (tuples != nullptr && *tuples != '\0') ? std::stoll(tuples) : 0;
    }
    if (rows != nullptr && status == PGRES_TUPLES_OK) {
      const int n = PQntuples(result.get()), columns = PQnfields(result.get());
      rows->reserve(static_cast<size_t>(n));
      for (int r = 0; r < n; ++r) {
        CatalogRow row(static_cast<size_t>(columns));
        for (int c = 0; c < columns; ++c) {
          if (PQgetisnull(result.get(), r, c)) continue;
          row[c] = std::string(PQgetvalue(result.get(), r, c),
                               static_cast<size_t>(PQgetlength(result.get(), r, c)));
        }
        rows->push_back(std::move(row));
      }
    }
    return arrow::Status::OK();
  }

  PGconn* conn_;
  const std::string name_;
  bool open_ = false;
};

// "host:port/dbname" for messages (never the password).
std::string DescribeConnection(PGconn* conn) {
  std::string host = PQhost(conn) != nullptr ? PQhost(conn) : "";
  std::string port = PQport(conn) != nullptr ? PQport(conn) : "";
  std::string db = PQdb(conn) != nullptr ? PQdb(conn) : "";
  return "postgres:" + host + ":" + port + "/" + db;
}

// `keyword`'s value in `conninfo`, else in the environment variable libpq reads for it.
std::string ConninfoValue(const std::string& conninfo, const char* keyword,
                          const char* variable) {
  std::string value;
  if (PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr)) {
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      if (std::strcmp(o->keyword, keyword) == 0 && o->val != nullptr) value = o->val;
    }
    PQconninfoFree(options);
  }
  const char* from_environment = std::getenv(variable);
  if (value.empty() && from_environment != nullptr) value = from_environment;
  return value;
}

}  // namespace

arrow::Result<std::vector<std::pair<std::string, std::string>>> SystemRootCertParams(
    const std::string& conninfo, const std::function<arrow::Result<CaStore>()>& find_store) {
  std::vector<std::pair<std::string, std::string>> params;
  if (ConninfoValue(conninfo, "sslrootcert", "PGSSLROOTCERT") != "system") return params;
  // libpq allows "system" with verify-full only (and implies it); any other sslmode is
  // left to libpq to refuse.
  const std::string mode = ConninfoValue(conninfo, "sslmode", "PGSSLMODE");
  if (!mode.empty() && mode != "verify-full") return params;
  auto store = find_store();
  if (!store.ok()) {
    return store.status().WithMessage("the DuckLake catalog's sslrootcert=system: ",
                                      store.status().message());
  }
  // libpq takes a file only: a host with a directory alone is left to OpenSSL's lookup.
  if (store->file.empty()) return params;
  params.emplace_back("sslrootcert", store->file);
  params.emplace_back("sslmode", "verify-full");
  return params;
}

arrow::Result<std::unique_ptr<CatalogConnection>> OpenPostgresCatalog(
    const std::string& conninfo) {
  // sslrootcert=system means OpenSSL's compiled-in store, Debian's paths in a portable
  // build: the host's bundle is named instead (ca_certificates.h), after the conninfo.
  ARROW_ASSIGN_OR_RAISE(auto system_roots, SystemRootCertParams(conninfo, FindHostCaStore));
  // Bounded waits: connecting, and any statement (a lock held by a stuck writer). The
  // conninfo comes after them, so what it sets wins.
  std::vector<const char*> keywords = {"connect_timeout", "options", "application_name",
                                       "keepalives_idle", "dbname"};
  // A writer that stalls inside a commit holds the next snapshot's key: the server ends
  // its transaction after a minute; a commit waits for a lock at most half that.
  std::vector<const char*> values = {
      "10",
      "-c statement_timeout=60000 -c lock_timeout=30000 "
      "-c idle_in_transaction_session_timeout=60000 -c TimeZone=UTC",
      "arrowport", "30", conninfo.c_str()};
  for (const auto& [keyword, value] : system_roots) {
    keywords.push_back(keyword.c_str());
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return arrow::Status::OutOfMemory("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = PQerrorMessage(conn);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    const std::string where = DescribeConnection(conn);
    PQfinish(conn);
    return arrow::Status::IOError("connecting to the DuckLake catalog ", where, ": ", why);
  }
  // Quiet: NOTICEs (e.g. "relation already exists, skipping") would go to stderr.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return std::make_unique<PostgresCatalog>(conn, DescribeConnection(conn));
}

arrow::Result<std::unique_ptr<CatalogConnection>> OpenSqliteCatalog(
    const std::string& path, bool create);

arrow::Status CheckCatalogForm(const std::string& catalog) {
  if (catalog.rfind("sqlite:", 0) == 0) {
    const std::string path = catalog.substr(7);
    if (path.empty()) return arrow::Status::Invalid("a sqlite: catalog needs a file path");
    if (path.find('\0') != std::string::npos) {
      return arrow::Status::Invalid("the catalog path holds a NUL byte");
    }
    return arrow::Status::OK();
  }
  if (catalog.rfind("postgres:", 0) == 0) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(catalog.substr(9).c_str(), &error);
    if (options == nullptr) {
      std::string why = error != nullptr ? error : "not libpq's form";
      PQfreemem(error);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      return arrow::Status::Invalid("the postgres: catalog is not a libpq connection string: ",
                                    why);
    }
    PQconninfoFree(options);
    return arrow::Status::OK();
  }
  return arrow::Status::Invalid(
      "a DuckLake catalog is 'sqlite:PATH' or 'postgres:CONNINFO', got '",
      catalog.substr(0, 40), "'");
}

arrow::Result<std::unique_ptr<CatalogConnection>> OpenCatalog(const std::string& catalog,
                                                              bool create) {
  ARROW_RETURN_NOT_OK(CheckCatalogForm(catalog));
  if (catalog.rfind("sqlite:", 0) == 0) {
    return OpenSqliteCatalog(catalog.substr(7), create);
  }
  return OpenPostgresCatalog(catalog.substr(9));
}

arrow::Result<CatalogLane::Lease> CatalogLane::Take() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (connection_ && !connection_->healthy()) connection_.reset();
  if (!connection_) {
    ARROW_ASSIGN_OR_RAISE(connection_, OpenCatalog(catalog_, /*create=*/!opened_));
    opened_ = true;
  }
  return Lease(this, std::move(lock));
}

arrow::Status CatalogLane::Lease::Reconnect() {
  lane_->connection_.reset();
  ARROW_ASSIGN_OR_RAISE(lane_->connection_,
                        OpenCatalog(lane_->catalog_, /*create=*/!lane_->opened_));
  lane_->opened_ = true;
  return arrow::Status::OK();
}

}  // namespace arrowport::lake
