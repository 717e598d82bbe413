#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "arrow/result.h"
#include "arrow/status.h"
#include "arrowport/common/ca_certificates.h"

namespace arrowport::lake {

/// One value of a catalog row or statement parameter: SQL NULL, or its text (numbers as
/// decimal text; bound as text, the database converts by the column's type).
using CatalogValue = std::optional<std::string>;
using CatalogRow = std::vector<CatalogValue>;

/// \brief A connection to the transactional database that holds a DuckLake catalog
/// (SQLite for one node, PostgreSQL for several). Statements use `?` for parameters in
/// both. Errors are IOError (the database unreachable or failing: retry later) or
/// Invalid (the statement refused), naming the catalog; a unique key violated is
/// arrow::StatusCode::AlreadyExists (another writer's commit took the snapshot id).
/// One thread at a time.
class CatalogConnection {
 public:
  virtual ~CatalogConnection() = default;

  /// Runs one statement; returns its rows (none for a statement without).
  virtual arrow::Result<std::vector<CatalogRow>> Query(
      const std::string& sql, const std::vector<CatalogValue>& params = {}) = 0;
  /// Runs one statement; returns how many rows it changed.
  virtual arrow::Result<int64_t> Execute(const std::string& sql,
                                         const std::vector<CatalogValue>& params = {}) = 0;
  /// A write transaction: SQLite takes the database's write lock at once (BEGIN
  /// IMMEDIATE, waiting up to the busy timeout); PostgreSQL's unique keys serialise
  /// the writers of one snapshot id.
  virtual arrow::Status Begin() = 0;
  /// A read-only transaction: its statements see one state of the catalog (another
  /// writer's commit lands before or after all of them). Ended by Commit or Rollback.
  virtual arrow::Status BeginRead() = 0;
  /// Commits. An error here leaves the outcome unknown when the connection broke.
  virtual arrow::Status Commit() = 0;
  /// Rolls back what Begin started (nothing when none is open); never fails.
  virtual void Rollback() = 0;
  /// Whether the connection is still usable (false after the server went away, or once
  /// a SQLite catalog's file was deleted or replaced at its path).
  virtual bool healthy() const = 0;
  /// Which catalog file the connection has open, "DEVICE:INODE" (SQLite): another value
  /// is another catalog (one replaced at the path), whose snapshot ids start anew. Empty
  /// for PostgreSQL.
  virtual std::string file_identity() const { return ""; }
  /// "sqlite" or "postgres".
  virtual const char* dialect() const = 0;
  /// The catalog for messages: the SQLite file, or PostgreSQL's host, port and database
  /// (never a password).
  virtual const std::string& name() const = 0;
};

/// Opens `catalog`: "sqlite:PATH" (the file is made when missing, if `create`; else an
/// IOError says it is gone) or "postgres:CONNINFO" (libpq's key=value or URI form).
/// Invalid for any other form.
arrow::Result<std::unique_ptr<CatalogConnection>> OpenCatalog(const std::string& catalog,
                                                              bool create = true);

/// \brief One connection to a catalog shared by the calls of one table, one call at a
/// time: a call leases it (Take) and holds it, and its lock, until the lease goes. The
/// connection is made on first use and made again after it broke, or once its SQLite
/// file was replaced at its path (the new file is opened). A SQLite file deleted after
/// the lane opened it is not made again: Take fails saying so until it is back.
class CatalogLane {
 public:
  explicit CatalogLane(std::string catalog) : catalog_(std::move(catalog)) {}

  /// The lane's connection, owned by one call for as long as the lease lives (the lane
  /// is locked meanwhile); movable, not copyable.
  class Lease {
   public:
    CatalogConnection* get() const { return lane_->connection_.get(); }
    /// Drops the connection and makes a new one (a connection the server dropped
    /// while idle), still under the lease.
    arrow::Status Reconnect();

   private:
    friend class CatalogLane;
    Lease(CatalogLane* lane, std::unique_lock<std::mutex> lock)
        : lane_(lane), lock_(std::move(lock)) {}
    CatalogLane* lane_;
    std::unique_lock<std::mutex> lock_;
  };

  /// Waits for the lane, then leases it with a healthy connection (an error when none
  /// can be made).
  arrow::Result<Lease> Take();

 private:
  const std::string catalog_;
  std::mutex mutex_;  // guards connection_ and opened_ (held by the lease)
  std::unique_ptr<CatalogConnection> connection_;
  bool opened_ = false;  // a connection was made once: a SQLite file is not made again
};

/// Checks the form of `catalog` without connecting (config validation).
arrow::Status CheckCatalogForm(const std::string& catalog);

/// \brief What makes a PostgreSQL catalog's `sslrootcert=system` (in the conninfo, or
/// PGSSLROOTCERT) trust the host's CA store, which `find_store` finds (FindHostCaStore),
/// instead of OpenSSL's compiled-in paths: sslrootcert=BUNDLE and the sslmode=verify-full
/// that "system" implies, libpq keywords given after the conninfo. None for any other
/// conninfo, a weaker sslmode (libpq refuses it with "system") or a host with a CA
/// directory only; the store's error when there is none.
arrow::Result<std::vector<std::pair<std::string, std::string>>> SystemRootCertParams(
    const std::string& conninfo, const std::function<arrow::Result<CaStore>()>& find_store);

}  // namespace arrowport::lake
