#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "arrow/result.h"
#include "arrowport/storage/database/connection.h"

namespace arrowport {
class CallCancellation;
}

namespace arrowport::storage {

class SharedConnection;

/// \brief Exclusive use of a SharedConnection, from Acquire() until it is destroyed or
/// Release()d: the only way to reach a shared connection, and the only place its
/// transaction is begun, committed or rolled back. A streaming result keeps the lease it
/// was started under until its last batch (see LeasedReader), so no other call can run
/// on the connection while the result is read. Move-only; use from one thread at a time.
class ConnectionLease {
 public:
  ConnectionLease() = default;
  ConnectionLease(ConnectionLease&& other) noexcept;
  ConnectionLease& operator=(ConnectionLease&& other) noexcept;
  ConnectionLease(const ConnectionLease&) = delete;
  ConnectionLease& operator=(const ConnectionLease&) = delete;
  ~ConnectionLease();

  /// A lease over a connection nobody else can reach (a pipeline's own): the same
  /// transaction API, nothing to wait for.
  static ConnectionLease Own(std::unique_ptr<Connection> connection);

  explicit operator bool() const { return shared_ != nullptr; }
  Connection& connection() const;
  Connection* operator->() const { return &connection(); }
  /// The connection this lease is for.
  const std::shared_ptr<SharedConnection>& shared() const { return shared_; }

  /// BEGIN TRANSACTION.
  arrow::Status Begin();
  /// COMMIT. A failed commit leaves no transaction open (DuckDB rolls it back, or the
  /// connection does not outlive this lease, as for RollbackOrDiscard); its error is
  /// returned.
  arrow::Status Commit();
  /// ROLLBACK when a transaction is open. Its failure is returned, never swallowed: the
  /// transaction is then still open.
  arrow::Status Rollback();
  /// ROLLBACK; when DuckDB refuses it, the connection is closed as this lease ends
  /// (closing rolls the transaction back) and every later Acquire is refused, so no
  /// later call finds a transaction nobody owns. Until then the connection stays usable
  /// for cleanup. Returns the ROLLBACK's error, for the caller to report.
  arrow::Status RollbackOrDiscard();
  /// See Connection::AbortTransaction.
  void AbortTransaction();
  /// True while an explicit transaction is open on the connection (DuckDB's own state).
  bool in_transaction() const;

  /// Ends the lease now (the destructor does the same).
  void Release();
  /// Notes that the lease now serves a result being read, which stops between DuckDB's
  /// chunks without aborting anything: what a commit may stop (AcquireStopping,
  /// Stopping::kResultReader). Until the lease ends.
  void MarkReadingResult();

 private:
  friend class SharedConnection;
  explicit ConnectionLease(std::shared_ptr<SharedConnection> shared);
  std::shared_ptr<SharedConnection> shared_;
  bool discard_ = false;  // a transaction would not end: close the connection as the lease ends
};

/// \brief A DuckDB connection that outlives the call that opened it and that several
/// calls use in turn: a Flight SQL transaction's or pinned session's connection, a
/// prepared statement's own. Reached only through a ConnectionLease; "in use" means a
/// lease exists. Thread-safe.
class SharedConnection : public std::enable_shared_from_this<SharedConnection> {
 public:
  using Clock = std::chrono::steady_clock;

  static std::shared_ptr<SharedConnection> Make(std::unique_ptr<Connection> connection);
  ~SharedConnection();
  SharedConnection(const SharedConnection&) = delete;
  SharedConnection& operator=(const SharedConnection&) = delete;

  /// \brief Exclusive use, for `use` (named to the next caller while held, e.g. "a result
  /// of 'SELECT ...' being read"). Waits while another lease exists, until `deadline` or
  /// until `cancellation` (may be null) is cancelled; then InUse (Flight
  /// FAILED_PRECONDITION, HTTP 409) naming what holds the connection and for how long, or
  /// the cancellation's reason. IOError once the connection was discarded.
  arrow::Result<ConnectionLease> Acquire(
      std::string use, Clock::time_point deadline,
      const std::shared_ptr<CallCancellation>& cancellation = nullptr);
  /// The lease when the connection is free now; nullopt while another lease exists.
  std::optional<ConnectionLease> TryAcquire(std::string use);
  /// Which holder AcquireStopping stops.
  enum class Stopping : uint8_t {
    kAnyCall,      ///< whatever holds it (what ends next is rolled back anyway)
    kResultReader, ///< only a result being read (MarkReadingResult): it stops between
                   ///< DuckDB's chunks, which aborts nothing; a statement still running
                   ///< would abort its transaction if interrupted, so it is waited for
  };
  /// \brief Acquire() that first stops the call holding the connection, if `which` it
  /// is: that call's cancellation (the one it acquired with) is cancelled with `reason`,
  /// so a result it streams ends with that error; when it still holds the connection
  /// after kStopGrace (blocked writing to a client that does not read), its transport is
  /// cut (CallCancellation::Cut). For what a client ends itself (a commit, a rollback,
  /// the close of its session), which must not wait on a result nobody reads.
  arrow::Result<ConnectionLease> AcquireStopping(
      std::string use, Clock::time_point deadline,
      const std::shared_ptr<CallCancellation>& cancellation, const arrow::Status& reason,
      Stopping which = Stopping::kAnyCall);
  static constexpr std::chrono::milliseconds kStopGrace{1000};

  /// True while a lease exists.
  bool in_use() const;
  /// True once the connection was discarded (Discard, or a lease that could not end its
  /// transaction): nothing runs on it any more, and nothing is left on it to roll back.
  bool closed() const;
  /// True while another connection waits for a table this one holds in its open
  /// transaction (Connection::HoldsUpOthers); false once discarded.
  bool HoldsUpOthers() const;
  /// When the last lease ended (or the connection was made); nullopt while leased.
  std::optional<Clock::time_point> IdleSince() const;

  /// \brief Closes the DuckDB connection under `lease` (which must be this connection's),
  /// rolling back whatever transaction it had, and refuses every later Acquire: the last
  /// resort when a ROLLBACK failed.
  void Discard(ConnectionLease lease);

 private:
  friend class ConnectionLease;
  explicit SharedConnection(std::unique_ptr<Connection> connection);
  void Release();
  /// Release(), closing the connection first.
  void ReleaseDiscarding();

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable released_;
  bool leased_ = false;
  std::string use_;            // what holds the lease
  std::weak_ptr<CallCancellation> holder_;  // the call holding the lease, if it named one
  bool held_by_result_ = false;  // the lease reads a result (MarkReadingResult)
  Clock::time_point changed_;  // when the lease was taken or last released
  std::unique_ptr<Connection> connection_;  // null once discarded
};

/// \brief Wraps a result read from a leased connection: the reader owns `lease` and
/// gives it up right after the last batch (or an error), once the result itself is gone,
/// so the connection is free for the client's next call as soon as it has its last batch.
std::shared_ptr<arrow::RecordBatchReader> MakeLeasedReader(
    std::shared_ptr<arrow::RecordBatchReader> result, ConnectionLease lease);

}  // namespace arrowport::storage
