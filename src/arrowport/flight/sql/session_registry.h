#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <vector>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport {
class CallCancellation;
class MemoryBudget;
}

namespace arrowport::query {
class PreparedQuery;
class SessionConnection;
class SessionLease;
}  // namespace arrowport::query

namespace arrow::flight::sql {
class FlightSession;
}

namespace arrowport::flight::sql {

class SessionStore;

/// Who makes a Flight SQL call: the session its cookie names and the authenticated user.
struct Caller {
  std::string session;  ///< "" when the call carries no (valid) session cookie
  std::string user;     ///< CallContext::principal's user; "" when there is no principal
  /// False when `session` was made by this very call (the client sent no cookie).
  bool presented_cookie = false;
  /// The client's gRPC connection (its peer address, one per TCP connection) when it
  /// reached the server directly; "" when the call came through a proxy (it carries
  /// forwarding headers), whose one connection may carry several clients' calls.
  std::string connection;
};

/// \brief Whose a handle is. Every kind of handle (session, prepared statement,
/// transaction, pinned connection, running DoGet) is bound to the session and the user
/// that made it, and every use of one goes through Allows().
struct Owner {
  std::string session;
  std::string user;
  /// Made by a call without a cookie: the handle (128 random bits) is the capability,
  /// for cookie-less calls of the same user (and calls with `session`'s cookie, if any).
  bool cookieless = false;
  /// For a cookie-less handle, the gRPC connection it was made on (Caller::connection):
  /// a cookie-less CloseSession of the same user on that connection ends it (ADBC's
  /// close sends nothing else). "" when unknown (through a proxy).
  std::string connection;

  static Owner Of(const Caller& caller) {
    const bool cookieless = !caller.presented_cookie || caller.session.empty();
    return Owner{caller.session, caller.user, cookieless,
                 cookieless ? caller.connection : std::string()};
  }
  bool Allows(const Caller& caller) const {
    if (caller.user != user) return false;
    if (caller.session == session) return true;
    return cookieless && caller.session.empty();
  }
};

struct TransactionEntry;

/// A prepared statement a client holds open. It runs on statement->connection(): its own,
/// or `shared`'s (a transaction's or the session's pinned one). The bound parameters
/// belong to that connection's lease holder: read and written only under the lease.
struct StatementEntry {
  Owner owner;
  std::string transaction_id;
  /// The transaction or session entry whose connection it runs on (null: its own).
  std::shared_ptr<TransactionEntry> shared;
  std::shared_ptr<query::PreparedQuery> statement;
  std::shared_ptr<arrow::RecordBatch> parameters;  ///< bound by DoPut; under the lease
  std::shared_ptr<void> parameters_charge;  ///< their share of the registry's held bytes
  std::shared_ptr<void> statement_charge;   ///< the prepared statement's estimated share
  std::shared_ptr<void> plan_charge;  ///< what its plan holds beyond that estimate

  /// The connection the statement runs on (null before it is prepared).
  std::shared_ptr<query::SessionConnection> connection() const;
};

/// An open transaction: its statements run on its own connection. Also a session's
/// pinned connection (SessionRegistry::Pin), where its temporary tables live. Used only
/// through leases of `connection`.
struct TransactionEntry {
  Owner owner;
  std::shared_ptr<query::SessionConnection> connection;

  /// An EndTransaction the server could not carry out because the connection was busy
  /// (a result still being read). Flight SQL clients built on arrow-go (every ADBC
  /// driver) forget the transaction id as they send EndTransaction, whatever the answer,
  /// so the transaction must not live on as the session's: on a session's pinned
  /// connection, the next call after a refused rollback does it first, and after a
  /// refused commit a call that names no transaction is refused rather than run inside
  /// it (see FlightSqlService::SettleRefusedEnd). A retry of the EndTransaction by its id
  /// works as before. Reset when a transaction begins on the connection again.
  enum class RefusedEnd : uint8_t { kNone, kCommit, kRollback };
  std::atomic<RefusedEnd> refused_end{RefusedEnd::kNone};
};

/// What one session, and all sessions together, may hold open (flight.sql_max_* keys).
struct RegistryLimits {
  int64_t statements_per_session = 256;
  int64_t statements_total = 4096;
  int64_t transactions_per_session = 8;
  int64_t transactions_total = 256;
  /// Sessions (cookies) known at once; past it the least recently used session that
  /// holds nothing is forgotten to make room.
  int64_t sessions_total = 16384;
  /// What open prepared statements hold, all together: bound query parameters, and each
  /// statement reckoned at query::kPreparedBytesPerSqlByte bytes per byte of its SQL text.
  int64_t held_bytes_total = int64_t{512} << 20;
  /// The server-wide memory budget what statements hold also draws from (may be null).
  std::shared_ptr<MemoryBudget> server_memory;
};

/// Why the server ended an open transaction before its client did and before the idle
/// timeout: told to the client's next call naming it.
enum class EndedEarly : uint8_t {
  kForCheckpoint,  ///< unused while a due checkpoint waited for it
  kForWriter,      ///< unused while another writer waited for a table it holds
  kByClose,        ///< a cookie-less CloseSession on the gRPC connection it was begun on
};

/// Open transactions hold back the database's checkpoints: DuckDB 2.0 refuses one while
/// another transaction is open that has written or read a table ("other write
/// transactions active", as measured), so a client that begins one and goes away
/// (crashed, or a tool left open) would let the WAL, and the memory uncommitted rows
/// hold, grow with everyone else's writes until the idle timeout (15 minutes by
/// default). While `checkpoint_waits` says a checkpoint is due and failing, and every
/// open transaction has been unused for `idle_timeout`, they are rolled back
/// (flight.sql_held_transaction_timeout_s); `on_rolled_back` is told, for the log.
///
/// They also hold back other writers: a change of a table's shape (DROP, ALTER, CREATE
/// OR REPLACE) waits for every transaction that wrote the table (storage::TableGates).
/// A transaction unused for `idle_timeout` that another writer waits for is rolled back
/// too (a client that closed its connection without a word, or a tool left open).
///
/// A database DuckDB invalidated is opened again only once every connection of it is
/// closed, and calls are refused meanwhile: while `database_reopening` says so, the sweep
/// frees everything not in use at once (their transactions were lost with the database),
/// rather than after the idle timeout. An exited client's session held the server's
/// reopen, and every call, for 15 minutes (found by a hostile run).
struct HeldTransactions {
  std::chrono::seconds idle_timeout{30};
  std::function<bool()> checkpoint_waits;  // null: never
  std::function<void(EndedEarly why, const std::string& detail)> on_rolled_back;
  std::function<bool()> database_reopening;  // null: never
};

/// \brief What Flight SQL clients hold open on the server: sessions, prepared statements
/// and transactions (and, while they stream, the DoGets CancelFlightInfo may stop). Each
/// belongs to the session that made it and is freed when that session closes
/// (CloseSession), when it sits unused longer than the idle timeout (an open transaction
/// is then rolled back; sooner when it holds back a due checkpoint or another writer:
/// HeldTransactions),
/// or at Close().
///
/// "In use" means a lease of its connection exists (query::SessionConnection): a
/// statement running, a result still being read, an ingest. An entry in use is never
/// idle, however long ago its call began; idle time counts from when the last lease
/// ended. Rolling back (idle sweep, session close) happens under a lease, and a ROLLBACK
/// DuckDB refuses is never taken for done: the connection is then closed, which rolls
/// the transaction back.
///
/// An entry is bound to its Owner: refused to calls of another user, of another session,
/// and (when it was made inside a session) to calls without that session's cookie.
/// Entries made without a cookie (ADBC's default) serve cookie-less calls of the same user
/// that know the handle: the handle, 128 random bits, is then the capability. A session
/// belongs to the user that first used it: another user's call with its cookie cannot
/// use or close it.
///
/// Held entries are capped (RegistryLimits): per session, in total, and the bytes of
/// bound query parameters; beyond a cap, adding is refused (CapacityError, TooLarge kind).
/// Cookie-less entries belong to no session and count towards the totals only.
/// Thread-safe.
class SessionRegistry {
 public:
  SessionRegistry(std::shared_ptr<SessionStore> cookies, std::chrono::seconds idle_timeout,
                  RegistryLimits limits = {}, HeldTransactions pressure = {});
  ~SessionRegistry();

  /// The id of a session of the cookie store ("" when unknown or closed).
  std::string SessionId(const arrow::flight::sql::FlightSession* session);

  /// \brief Notes that `caller` uses its session: a session (and its cookie) unused for
  /// the idle timeout is closed, even one that never held a statement. The first user to
  /// use a session owns it; PermissionDenied for another user's call with its cookie.
  arrow::Status Touch(const Caller& caller);

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
  /// OK when `id` is empty or still names the open transaction `entry`; else an error
  /// saying it ended. Asked again once a call holds the transaction's lease: whoever
  /// ends a transaction does so under its lease, so the answer then stays true.
  arrow::Status StillOpen(const std::string& id,
                          const std::shared_ptr<TransactionEntry>& entry);
  /// Removes `entry` from the open transactions whatever its id (the caller, holding its
  /// lease, rolls it back); false when it was not open.
  bool ForgetTransaction(const std::shared_ptr<TransactionEntry>& entry);
  /// Removes the transaction (the caller, holding its lease, commits or rolls it back).
  /// KeyError when it is gone or is not `expected` (another call ended it meanwhile).
  arrow::Status TakeTransaction(const std::string& id, const Caller& caller,
                                const std::shared_ptr<TransactionEntry>& expected);

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
  /// The connection pinned to `caller`'s session when `caller` may use it (null: none;
  /// calls get connections of their own).
  std::shared_ptr<TransactionEntry> Pinned(const Caller& caller);
  /// Forgets the pin of `entry`'s session (its connection was discarded).
  void Unpin(const std::shared_ptr<TransactionEntry>& entry);

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

  /// \brief Closes `caller`'s session (CloseSession): its DoGets are cancelled, its
  /// transactions roll back and its statements are freed, its cookie forgotten. Waits
  /// until `deadline` for calls still using its connections (a result being streamed is
  /// stopped); then InUse, and nothing is closed. PermissionDenied when the session is
  /// another user's. A caller without a cookie (ADBC's close) closes what the
  /// cookie-less calls of its user made on its gRPC connection (Owner::connection), and
  /// nothing when that connection is unknown.
  arrow::Status CloseSession(const Caller& caller,
                             std::chrono::steady_clock::time_point deadline);
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
  struct Session {
    std::string user;  // who owns it (the first user to use it)
    std::chrono::steady_clock::time_point last_used;
  };
  /// What one close takes: a session's entries (by its cookie), or, for a cookie-less
  /// close, what the cookie-less calls of one user made on one gRPC connection.
  struct CloseScope {
    std::string session;
    std::string user;        // with `connection`: a cookie-less close
    std::string connection;  // "" with no session: nothing is covered
    bool Covers(const Owner& owner) const {
      if (!session.empty()) return owner.session == session;
      return !connection.empty() && owner.cookieless && owner.user == user &&
             owner.connection == connection;
    }
  };
  /// What closing a session takes out of the registry.
  struct SessionContents {
    std::vector<std::shared_ptr<StatementEntry>> statements;
    std::vector<std::shared_ptr<TransactionEntry>> transactions;  // pinned one included
  };

  void SweepLoop();
  void Sweep();
  /// Notes a use of `session`, made `user`'s when it is new (call under mutex_).
  void TouchSession(const std::string& session, const std::string& user);
  arrow::Status UnknownStatement() const;  // under mutex_
  /// Why transaction `id` is not open: what the sweep said of it when it rolled it back
  /// for a waiting checkpoint, else the general reasons (call under mutex_).
  arrow::Status UnknownTransaction(const std::string& id) const;
  /// The idle cut-off of open transactions at `now`: sooner while a checkpoint waits.
  std::chrono::steady_clock::time_point TransactionCutoff(
      std::chrono::steady_clock::time_point now) const;
  // Statements and transactions are kept alike; these serve both (call under mutex_).
  template <typename T>
  arrow::Result<std::string> AddHeld(HeldMap<T>* map, const std::shared_ptr<T>& entry,
                                     int64_t per_session, int64_t total, const char* what);
  /// The entry under `id` when `caller` may use it, its use noted; else map->end().
  template <typename T>
  typename HeldMap<T>::iterator FindHeld(HeldMap<T>* map, const std::string& id,
                                         const Caller& caller);
  /// Moves every entry `scope` covers out of `map`; their handles into `ids` (if set).
  template <typename T>
  std::vector<std::shared_ptr<T>> TakeOwned(HeldMap<T>* map, const CloseScope& scope,
                                            std::vector<std::string>* ids = nullptr);
  /// The connections `scope` holds (pinned, transactions, statements), under mutex_.
  std::vector<std::shared_ptr<query::SessionConnection>> ConnectionsOf(
      const CloseScope& scope);
  /// Takes everything `scope` covers out of the registry (under mutex_).
  SessionContents TakeSession(const CloseScope& scope);
  /// Closes `session` when it is still idle at `cutoff` and none of its connections is
  /// in use (the sweeper's close: it never waits).
  void CloseIdleSession(const std::string& session,
                        std::chrono::steady_clock::time_point cutoff);
  /// Rolls back what a close took (under `leases` where it has them) and forgets the
  /// session's cookie.
  void EndSession(const CloseScope& scope, SessionContents taken,
                  std::vector<query::SessionLease> leases);

  std::shared_ptr<SessionStore> cookies_;
  const std::chrono::seconds idle_timeout_;
  const RegistryLimits limits_;
  const HeldTransactions pressure_;
  std::mutex mutex_;  // guards everything below
  HeldMap<StatementEntry> statements_;
  HeldMap<TransactionEntry> transactions_;
  std::map<std::string, std::shared_ptr<TransactionEntry>> pinned_;  // by session
  std::map<std::string, Session> sessions_;
  /// Transactions the server ended before their client did (EndedEarly), with when and
  /// why, for the error their client's next call gets (the newest kMaxEarlyEnds kept).
  struct EarlyEnd {
    std::chrono::steady_clock::time_point at;
    EndedEarly why;
  };
  std::map<std::string, EarlyEnd> ended_early_;
  /// When the sweep last freed what clients held because the database was being
  /// reopened: their calls within the idle timeout after are told so (under mutex_).
  std::optional<std::chrono::steady_clock::time_point> freed_for_reopen_at_;
  /// The words the unknown-handle errors add after such a sweep, else "" (under mutex_).
  const char* LostInReopen() const;
  static constexpr size_t kMaxEarlyEnds = 1024;
  /// An open transaction the sweep rolled back before the idle timeout: whose, and why.
  struct HeldBackUser {
    std::string user;
    EndedEarly why;
  };
  /// Takes out the open transactions idle since `transaction_cutoff` (for a waiting
  /// checkpoint's sake only when every open one is) and those idle for the held
  /// transaction timeout that another writer waits for, each with its lease for the
  /// rollback (under mutex_); `held_back` gets the users of those taken before the idle
  /// timeout.
  void TakeIdleTransactions(std::chrono::steady_clock::time_point now,
                            std::chrono::steady_clock::time_point transaction_cutoff,
                            bool reopening, std::vector<query::SessionLease>* rollbacks,
                            std::vector<HeldBackUser>* held_back);
  /// Notes, and forgets once the idle timeout has passed, such ends (under mutex_).
  void NoteEarlyEnd(const std::string& id, std::chrono::steady_clock::time_point now,
                    EndedEarly why);
  void ForgetEarlyEnds(std::chrono::steady_clock::time_point cutoff);
  /// The session used longest ago that holds nothing (and is not `except`), or "".
  /// Under mutex_.
  std::string LeastRecentlyUsedEmptySession(const std::string& except);
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
