#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "arrow/result.h"

namespace arrowport {
class CallCancellation;
}  // namespace arrowport

namespace arrowport::storage {
class ConnectionLease;
class SharedConnection;
}  // namespace arrowport::storage

namespace arrowport::ingest {
class IngestPipeline;
}  // namespace arrowport::ingest

namespace arrowport::query {
namespace testing {
class SessionTestDatabase;
}  // namespace testing

/// \brief The key to the storage handles under a SessionLease or a PreparedQuery: only the
/// pipelines (and the tests' database helper) can make one, so a protocol adapter holds
/// those objects but cannot reach DuckDB through them.
class StorageAccess {
  StorageAccess() = default;
  friend class QueryPipeline;
  friend class PreparedQuery;
  friend class CatalogReads;
  friend class ingest::IngestPipeline;
  friend class testing::SessionTestDatabase;
};

class SessionConnection;

/// \brief Exclusive use of a SessionConnection, from Acquire() until it is destroyed or
/// Release()d: the only way to run anything on it. What runs under it, its transaction
/// begun, committed or rolled back included, goes through the query pipeline's verbs on
/// a session (QueryPipeline::Begin, Commit, Rollback, ExecuteUpdate, Execute, ...), which
/// alone hold the key to the storage lease underneath. A result read under it takes the
/// lease along until its last batch. Move-only; one thread at a time.
class SessionLease {
 public:
  SessionLease();
  SessionLease(SessionLease&& other) noexcept;
  SessionLease& operator=(SessionLease&& other) noexcept;
  SessionLease(const SessionLease&) = delete;
  SessionLease& operator=(const SessionLease&) = delete;
  ~SessionLease();

  explicit operator bool() const;
  /// The connection this lease is for (null for an empty lease).
  const std::shared_ptr<SessionConnection>& connection() const { return connection_; }

  /// Ends the lease now (the destructor does the same).
  void Release();

  /// The storage lease underneath, for the pipelines (query/, ingest/) only.
  storage::ConnectionLease& storage_lease(StorageAccess) { return *lease_; }
  const storage::ConnectionLease& storage_lease(StorageAccess) const { return *lease_; }

 private:
  friend class SessionConnection;
  SessionLease(std::shared_ptr<SessionConnection> connection,
               std::unique_ptr<storage::ConnectionLease> lease);
  std::shared_ptr<SessionConnection> connection_;
  std::unique_ptr<storage::ConnectionLease> lease_;  // null: an empty lease
};

/// \brief A DuckDB connection that outlives the call that opened it and that several
/// calls use in turn (a Flight SQL transaction's or pinned session's connection, a
/// prepared statement's own), opened by QueryPipeline::OpenSession. An opaque handle:
/// nothing runs on it except through a SessionLease; "in use" means a lease exists.
/// Thread-safe.
class SessionConnection : public std::enable_shared_from_this<SessionConnection> {
 public:
  using Clock = std::chrono::steady_clock;

  /// Only QueryPipeline::OpenSession makes one: the sessions' registry tells connections
  /// apart by this object, so a DuckDB connection must have exactly one.
  class OpenKey {
    OpenKey() = default;
    friend class QueryPipeline;
  };
  SessionConnection(OpenKey, std::shared_ptr<storage::SharedConnection> shared);
  ~SessionConnection();
  SessionConnection(const SessionConnection&) = delete;
  SessionConnection& operator=(const SessionConnection&) = delete;

  /// \brief Exclusive use for `use` (named to the next caller while held). Waits while
  /// another lease exists, until `deadline` or `cancellation` (may be null); then InUse
  /// naming what holds it, or the cancellation's reason. IOError once discarded.
  arrow::Result<SessionLease> Acquire(
      std::string use, Clock::time_point deadline,
      const std::shared_ptr<CallCancellation>& cancellation = nullptr);
  /// The lease when the connection is free now; nullopt while another lease exists.
  std::optional<SessionLease> TryAcquire(std::string use);
  /// Acquire() that first stops the call holding the connection (a result it streams
  /// ends with `reason`; see storage::SharedConnection::AcquireStopping): for what the
  /// client ends itself. `any_call`: whatever holds it (a rollback, the close of its
  /// session); else only a result being read, which stops without aborting the
  /// transaction (a commit).
  arrow::Result<SessionLease> AcquireStopping(
      std::string use, Clock::time_point deadline,
      const std::shared_ptr<CallCancellation>& cancellation, const arrow::Status& reason,
      bool any_call);
  /// True while another connection waits for a table this one's transaction holds.
  bool HoldsUpOthers() const;

  /// True while a lease exists.
  bool in_use() const;
  /// True once the connection was discarded: nothing runs on it any more.
  bool closed() const;
  /// When the last lease ended (or the connection was opened); nullopt while leased.
  std::optional<Clock::time_point> IdleSince() const;
  /// Closes the DuckDB connection under `lease` (this connection's), rolling back
  /// whatever transaction it had; every later Acquire is refused.
  void Discard(SessionLease lease);

 private:
  std::shared_ptr<storage::SharedConnection> shared_;
};

}  // namespace arrowport::query
