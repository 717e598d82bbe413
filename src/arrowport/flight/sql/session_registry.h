#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <vector>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport {
class CallCancellation;
}

namespace arrowport::storage {
class Connection;
class PreparedStatement;
}  // namespace arrowport::storage

namespace arrow::flight::sql {
class FlightSession;
}

namespace arrowport::flight::sql {

class SessionStore;

/// A random 128-bit hex id (statement handles, transaction ids, session ids).
std::string RandomId();

/// Who makes a Flight SQL call: the session its cookie names and the authenticated user.
struct Caller {
  std::string session;  ///< "" when the call carries no (valid) session cookie
  std::string user;     ///< CallContext::principal's user; "" when there is no principal
  /// False when `session` was made by this very call (the client sent no cookie).
  bool presented_cookie = false;
};

/// Whose an entry is: handles are bound to the session and the user that made them.
struct Owner {
  std::string session;
  std::string user;
  /// Made by a call without a cookie: the handle (128 random bits) is the capability,
  /// for cookie-less calls of the same user (and calls with `session`'s cookie, if any).
  bool cookieless = false;

  static Owner Of(const Caller& caller) {
    return Owner{caller.session, caller.user, !caller.presented_cookie || caller.session.empty()};
  }
  bool Allows(const Caller& caller) const {
    if (caller.user != user) return false;
    if (caller.session == session) return true;
    return cookieless && caller.session.empty();
  }
};

struct TransactionEntry;

/// A prepared statement a client holds open.
struct StatementEntry {
  Owner owner;
  std::string transaction_id;
  /// The transaction or session connection it runs on, shared with other statements
  /// (null: a connection of its own); its mutex serialises that connection.
  std::shared_ptr<TransactionEntry> shared;
  std::shared_ptr<storage::PreparedStatement> statement;
  std::mutex mutex;  ///< serialises binding and execution
  std::shared_ptr<arrow::RecordBatch> parameters;  ///< bound by DoPut; guarded by mutex
  std::shared_ptr<void> parameters_charge;  ///< their share of the registry's held bytes
  std::shared_ptr<void> statement_charge;   ///< the prepared statement's estimated share
};

/// An open transaction: its statements run on its own connection. Also a session's
/// pinned connection (SessionRegistry::Pin), where its temporary tables live.
struct TransactionEntry {
  Owner owner;
  std::shared_ptr<storage::Connection> connection;
  std::mutex mutex;  ///< serialises statements on the connection
};

/// What one session, and all sessions together, may hold open (flight.sql_max_* keys).
struct RegistryLimits {
  int64_t statements_per_session = 256;
  int64_t statements_total = 4096;
  int64_t transactions_per_session = 8;
  int64_t transactions_total = 256;
  /// What open prepared statements hold, all together: bound query parameters, and each
  /// statement reckoned at kHeldBytesPerSqlByte bytes per byte of its SQL text.
  int64_t held_bytes_total = int64_t{512} << 20;
};

/// DuckDB keeps a prepared statement's parsed and planned form: about 90 bytes per byte
/// of SQL text (measured: a 0.9 MB statement, a long IN list, holds 82 MB).
constexpr int64_t kHeldBytesPerSqlByte = 100;

/// \brief What Flight SQL clients hold open on the server: prepared statements and
/// transactions (and, while they stream, the DoGets CancelFlightInfo may stop). Each belongs to the session that made it
/// and is freed when that session closes (CloseSession), when it sits unused longer than
/// the idle timeout (an open transaction is then rolled back), or at Close().
///
/// An entry is bound to its Owner: refused to calls of another user, of another session,
/// and (when it was made inside a session) to calls without that session's cookie.
/// Entries made without a cookie (ADBC's default) serve cookie-less calls of the same user
/// that know the handle: the handle, 128 random bits, is then the capability.
///
/// Held entries are capped (RegistryLimits): per session, in total, and the bytes of
/// bound query parameters; beyond a cap, adding is refused (CapacityError, TooLarge kind).
/// Cookie-less entries belong to no session and count towards the totals only.
/// Thread-safe.
class SessionRegistry {
 public:
  SessionRegistry(std::shared_ptr<SessionStore> cookies, std::chrono::seconds idle_timeout,
                  RegistryLimits limits = {});
  ~SessionRegistry();

  /// The id of a session of the cookie store ("" when unknown or closed).
  std::string SessionId(const arrow::flight::sql::FlightSession* session);

  /// Notes that `session` is in use: a session (and its cookie) unused for the idle
  /// timeout is closed, even one that never held a statement.
  void Touch(const std::string& session);

  /// The new handle; refused when the owner's session or the server holds its cap.
  arrow::Result<std::string> AddStatement(std::shared_ptr<StatementEntry> entry);
  /// NotFound-style KeyError for an unknown, closed or expired handle, or one `caller`
  /// may not use.
  arrow::Result<std::shared_ptr<StatementEntry>> FindStatement(const std::string& handle,
                                                               const Caller& caller);
  arrow::Status CloseStatement(const std::string& handle, const Caller& caller);

  arrow::Result<std::string> AddTransaction(std::shared_ptr<TransactionEntry> entry);
  arrow::Result<std::shared_ptr<TransactionEntry>> FindTransaction(const std::string& id,
                                                                   const Caller& caller);
  /// Removes the transaction (the caller commits or rolls it back).
  arrow::Result<std::shared_ptr<TransactionEntry>> TakeTransaction(const std::string& id,
                                                                   const Caller& caller);

  /// \brief The connection pinned to `caller`'s session, pinning one if there is none:
  /// the one transaction the session holds open, if exactly one, else a new entry made
  /// by `make` (owned by the caller). Temporary tables live on it, so once pinned every
  /// call of the session runs on it, until the session closes or idles out. Counts
  /// towards the server's transaction cap.
  arrow::Result<std::shared_ptr<TransactionEntry>> Pin(
      const Caller& caller,
      const std::function<arrow::Result<std::shared_ptr<TransactionEntry>>()>& make);
  /// \brief Pins the open transaction `entry` to its owner's session (where a temporary
  /// table made in it then outlives it), when `caller` presents that session's cookie
  /// (otherwise nothing: the client could never come back to it); refused when the
  /// session is pinned to another connection.
  arrow::Status PinTransaction(const std::shared_ptr<TransactionEntry>& entry,
                               const Caller& caller);
  /// The connection pinned to `session` (null: none; calls get connections of their own).
  std::shared_ptr<TransactionEntry> Pinned(const std::string& session);

  /// Reserves `bytes` (of bound parameters, or a prepared statement's estimate) until the
  /// returned token is destroyed; refused (TooLarge) when all open statements together
  /// would hold more than the limit.
  arrow::Result<std::shared_ptr<void>> ChargeHeldBytes(int64_t bytes);

  /// \brief Records that a DoGet of `ticket` by `owner` runs under `cancellation` until
  /// the returned token is destroyed, so CancelFlightInfo of a FlightInfo carrying that
  /// ticket, sent by a caller the owner allows, can stop it.
  std::shared_ptr<void> TrackRunning(const std::string& ticket,
                                     std::shared_ptr<CallCancellation> cancellation,
                                     Owner owner = {});
  /// Cancels every running DoGet of `ticket` that `caller` may stop; returns how many.
  int CancelRunning(const std::string& ticket, const arrow::Status& reason,
                    const Caller& caller = {});

  /// Frees everything `session` owns (its transactions roll back) and forgets its cookie.
  void CloseSession(const std::string& session);
  /// Frees everything (server shutdown): open transactions roll back.
  void Close();

  size_t open_statements();
  size_t open_transactions();

 private:
  template <typename T>
  struct Held {
    std::shared_ptr<T> entry;
    std::chrono::steady_clock::time_point last_used;
  };
  template <typename T>
  using HeldMap = std::map<std::string, Held<T>>;

  void SweepLoop();
  void Sweep();
  void TouchSession(const std::string& session);
  // Statements and transactions are kept alike; these serve both (call under mutex_).
  template <typename T>
  arrow::Result<std::string> AddHeld(HeldMap<T>* map, const std::shared_ptr<T>& entry,
                                     int64_t per_session, int64_t total, const char* what);
  /// The entry under `id` when `caller` may use it, its use noted; else map->end().
  template <typename T>
  typename HeldMap<T>::iterator FindHeld(HeldMap<T>* map, const std::string& id,
                                         const Caller& caller);
  /// Moves every entry `session` owns out of `map`.
  template <typename T>
  std::vector<std::shared_ptr<T>> TakeOwned(HeldMap<T>* map, const std::string& session);

  std::shared_ptr<SessionStore> cookies_;
  const std::chrono::seconds idle_timeout_;
  const RegistryLimits limits_;
  std::mutex mutex_;  // guards everything below
  HeldMap<StatementEntry> statements_;
  HeldMap<TransactionEntry> transactions_;
  std::map<std::string, std::shared_ptr<TransactionEntry>> pinned_;  // by session
  std::map<std::string, std::chrono::steady_clock::time_point> sessions_;  // last use
  int64_t held_bytes_ = 0;
  uint64_t next_running_ = 0;
  struct Running {
    std::string ticket;
    std::shared_ptr<CallCancellation> cancellation;
    Owner owner;
  };
  std::map<uint64_t, Running> running_;
  bool stopping_ = false;
  std::condition_variable stop_changed_;
  std::thread sweeper_;
};

}  // namespace arrowport::flight::sql
