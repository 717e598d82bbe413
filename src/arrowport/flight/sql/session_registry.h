#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/flight/sql/client_session.h"

namespace arrowport {
class CallCancellation;
class MemoryBudget;
}

namespace arrowport::query {
class SessionConnection;
class SessionLease;
}  // namespace arrowport::query

namespace arrow::flight::sql {
class FlightSession;
}

namespace arrowport::flight::sql {

class SessionStore;

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
  /// When users sign in: what one user may hold of each server-wide limit above, a
  /// 1/`per_user_divisor` share (at least one), so that no one user (a reader opening
  /// statements or transactions in a loop) locks every other out. 0: no per-user share
  /// (authentication off: one anonymous user).
  int64_t per_user_divisor = 0;
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

/// How long a call waits for a connection another call of its session uses (a result
/// still being read), and what ends its wait sooner (null: nothing).
struct SessionWait {
  std::chrono::steady_clock::time_point deadline;
  std::shared_ptr<CallCancellation> cancellation;
};

/// \brief Every Flight SQL session (ClientSession) by its cookie, and the one door the
/// rest of flight/sql goes through to what sessions hold: prepared statements,
/// transactions (begun and ended here), pinned connections, and the DoGets running in a
/// session (which CancelFlightInfo may stop). Each belongs to the session that made it
/// and ends with it: when its client closes it (CloseSession), when it sits unused longer
/// than the idle timeout (an open transaction is then rolled back; sooner when it holds
/// back a due checkpoint or another writer: HeldTransactions), when the database is
/// reopened, or at Close(); each way goes through ClientSession::Take and End.
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
  /// Opens a connection of its own for a transaction or a pin (the query pipeline's).
  using OpenConnection =
      std::function<arrow::Result<std::shared_ptr<query::SessionConnection>>()>;

  SessionRegistry(std::shared_ptr<SessionStore> cookies, std::chrono::seconds idle_timeout,
                  RegistryLimits limits = {}, HeldTransactions pressure = {});
  ~SessionRegistry();

  /// The id of a session of the cookie store ("" when unknown or closed).
  std::string SessionId(const arrow::flight::sql::FlightSession* session);

  /// \brief Notes that `caller` uses its session: a session (and its cookie) unused for
  /// the idle timeout is closed, even one that never held a statement. The first user to
  /// use a session owns it; PermissionDenied for another user's call with its cookie.
  arrow::Status Touch(const Caller& caller);

  // Prepared statements (session_registry.cc).
  /// The new handle; refused when the owner's session or the server holds its cap.
  arrow::Result<std::string> AddStatement(std::shared_ptr<StatementEntry> entry);
  /// NotFound-style KeyError for an unknown, closed or expired handle, or one `caller`
  /// may not use.
  arrow::Result<std::shared_ptr<StatementEntry>> FindStatement(const std::string& handle,
                                                               const Caller& caller);
  arrow::Status CloseStatement(const std::string& handle, const Caller& caller);
  /// Reserves `bytes` (of bound parameters, or a prepared statement's estimate) until the
  /// returned token is destroyed; refused (TooLarge) when all open statements together
  /// would hold more than the limit.
  arrow::Result<std::shared_ptr<void>> ChargeHeldBytes(int64_t bytes, const std::string& user);

  // Transactions (session_transactions.cc).
  /// \brief Begins a transaction for `caller`: on the session's pinned connection (its
  /// temporary tables live there) unless a transaction is open on it already, else on a
  /// connection `open` makes. Returns its id; refused at the caps.
  arrow::Result<std::string> BeginTransaction(const Caller& caller, const OpenConnection& open,
                                              const SessionWait& wait);
  /// \brief Commits or rolls back transaction `id`. A result still being read in it is
  /// stopped first (a commit waits for a statement still running, a rollback stops it
  /// too); when its connection is not free by `wait`, the end is noted to be settled by
  /// the session's next call (TransactionEntry::RefusedEnd) and refused. A commit is
  /// refused, and the transaction rolled back, when an earlier statement aborted it or
  /// when `call_gone` says its client would not hear the answer.
  arrow::Status EndTransaction(const Caller& caller, const std::string& id, bool rollback,
                               const SessionWait& wait, const std::function<bool()>& call_gone);
  arrow::Result<std::string> AddTransaction(std::shared_ptr<TransactionEntry> entry);
  arrow::Result<std::shared_ptr<TransactionEntry>> FindTransaction(const std::string& id,
                                                                   const Caller& caller);
  /// \brief Asked once a call holds `lease` of the connection of transaction `id` (entry
  /// `entry`; "" and null: none named, or a pin): OK when it is still open, else an
  /// error saying it ended meanwhile (whoever ends a transaction does so under its lease,
  /// so the answer then stays true). Then settles an end refused earlier while the
  /// connection was busy: a refused rollback is done now (a call naming the transaction
  /// then gets NOT_FOUND, one naming none runs outside it); after a refused commit a call
  /// naming no transaction is refused (FAILED_PRECONDITION): it would run inside a
  /// transaction its client no longer holds.
  arrow::Status CheckLeased(query::SessionLease& lease, const std::string& id,
                            const std::shared_ptr<TransactionEntry>& entry);
  /// Removes the transaction (the caller, holding its lease, commits or rolls it back).
  /// KeyError when it is gone or is not `expected` (another call ended it meanwhile).
  arrow::Status TakeTransaction(const std::string& id, const Caller& caller,
                                const std::shared_ptr<TransactionEntry>& expected);

  // Connections pinned to a session (session_transactions.cc).
  /// \brief The connection pinned to `caller`'s session, pinning one if there is none:
  /// the one transaction the session holds open, if exactly one, else a new entry on a
  /// connection `open` makes (owned by the caller). Temporary tables live on it, so once
  /// pinned every call of the session runs on it, until the session closes or idles out.
  /// Counts towards the server's transaction cap.
  arrow::Result<std::shared_ptr<TransactionEntry>> Pin(const Caller& caller,
                                                       const OpenConnection& open);
  /// \brief Pins the open transaction `entry` to its owner's session (where a temporary
  /// table made in it then outlives it), when `caller` presents that session's cookie
  /// (otherwise nothing: the client could never come back to it); refused when the
  /// session is pinned to another connection.
  arrow::Status PinTransaction(const std::shared_ptr<TransactionEntry>& entry,
                               const Caller& caller);
  /// The connection pinned to `caller`'s session when `caller` may use it (null: none;
  /// calls get connections of their own).
  std::shared_ptr<TransactionEntry> Pinned(const Caller& caller);

  // Running DoGets (session_registry.cc).
  /// \brief Records that a DoGet of `ticket` by `owner` runs under `cancellation` until
  /// the returned token is destroyed, so CancelFlightInfo of a FlightInfo carrying that
  /// ticket, sent by a caller the owner allows, can stop it.
  std::shared_ptr<void> TrackRunning(const std::string& ticket,
                                     std::shared_ptr<CallCancellation> cancellation,
                                     Owner owner = {});
  /// Cancels every running DoGet of `ticket` that `caller` may stop; returns how many.
  int CancelRunning(const std::string& ticket, const arrow::Status& reason,
                    const Caller& caller = {});

  // How sessions end (session_lifecycle.cc).
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
  using Clock = std::chrono::steady_clock;
  /// Where a handle's entry is held: a session by its cookie, or (`sessionless`) the
  /// cookie-less holder of its owner's user and gRPC connection.
  /// What one user may hold of the server-wide limit `total` (limits_.per_user_divisor).
  int64_t UserShare(int64_t total) const {
    return limits_.per_user_divisor > 0 ? std::max<int64_t>(1, total / limits_.per_user_divisor)
                                        : total;
  }
  struct Where {
    std::string key;
    bool sessionless = false;
  };

  // Sessions and handles (session_registry.cc; all under mutex_).
  /// Where `owner`'s entries are held.
  static Where WhereOf(const Owner& owner);
  /// The holder of `owner`'s entries, made (and noted used) when `create`; else null.
  ClientSession* HolderOf(const Owner& owner, bool create);
  ClientSession* Holder(const Where& where);
  /// Notes a use of `session`, made `user`'s when it is new.
  void TouchSession(const std::string& session, const std::string& user);
  /// The entry under `id` when `caller` may use it, its use noted (null: none).
  template <typename T>
  ClientSession::Held<T>* FindHeld(std::map<std::string, Where>* index, const std::string& id,
                                   const Caller& caller, ClientSession** holder = nullptr);
  template <typename T>
  arrow::Result<std::string> AddHeld(std::map<std::string, Where>* index,
                                     const std::shared_ptr<T>& entry, int64_t per_session,
                                     int64_t total, const char* what);
  /// Takes what `scope` covers out of the registry: a whole session (which then closes),
  /// or for a cookie-less close what it covers in every holder; an emptied cookie-less
  /// holder goes.
  void TakeCovered(const CloseScope& scope, SessionContents* out);
  /// The connections `scope` covers, each once.
  std::vector<std::shared_ptr<query::SessionConnection>> ConnectionsOf(const CloseScope& scope);
  /// Drops a cookie-less holder that holds nothing any more.
  void DropIfEmpty(const Where& where);
  arrow::Status UnknownStatement() const;
  /// Why transaction `id` is not open: what the sweep said of it when it rolled it back
  /// early, else the general reasons.
  arrow::Status UnknownTransaction(const std::string& id) const;
  /// The words the unknown-handle errors add after a sweep freed what clients held for
  /// a database reopen, else "".
  const char* LostInReopen() const;
  /// The session used longest ago that holds nothing (and is not `except`), or "".
  std::string LeastRecentlyUsedEmptySession(const std::string& except);

  // Transactions (session_transactions.cc).
  /// Open transaction `id`, whoever may use it (null: not open).
  ClientSession::Held<TransactionEntry>* OpenTransaction(const std::string& id);
  /// Removes `entry` from the open transactions whatever its id (the caller, holding its
  /// lease, rolls it back); false when it was not open.
  bool ForgetTransaction(const std::shared_ptr<TransactionEntry>& entry);
  /// Forgets the pin of `entry`'s session (its connection was discarded).
  void Unpin(const std::shared_ptr<TransactionEntry>& entry);
  /// Closes `entry`'s connection under `lease` (a ROLLBACK or COMMIT DuckDB would not
  /// finish): rolls back, and the session's temporary tables go with its pin.
  void Discard(const std::shared_ptr<TransactionEntry>& entry, query::SessionLease lease);
  /// The lease EndTransaction ends `entry` under (see EndTransaction).
  arrow::Result<query::SessionLease> LeaseToEnd(const std::shared_ptr<TransactionEntry>& entry,
                                                bool rollback, const SessionWait& wait);
  /// Commits under `lease` (the entry taken out already), or rolls back when it cannot.
  arrow::Status CommitTaken(const std::shared_ptr<TransactionEntry>& entry,
                            query::SessionLease lease, const std::function<bool()>& call_gone);
  arrow::Status SettleRefusedEnd(query::SessionLease& lease, const std::string& id,
                                 const std::shared_ptr<TransactionEntry>& entry);

  // How sessions end (session_lifecycle.cc).
  void SweepLoop();
  void Sweep();
  /// Closes `session` when it is still idle at `cutoff` and none of its connections is
  /// in use (the sweeper's close: it never waits).
  void CloseIdleSession(const std::string& session, Clock::time_point cutoff);
  /// Ends what a close took (ClientSession::End) and forgets the session's cookie.
  void EndSession(const CloseScope& scope, SessionContents taken,
                  std::vector<query::SessionLease> leases);
  /// The idle cut-off of open transactions at `now`: sooner while a checkpoint waits.
  Clock::time_point TransactionCutoff(Clock::time_point now) const;
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
  void TakeIdleTransactions(Clock::time_point now, Clock::time_point transaction_cutoff,
                            bool reopening, std::vector<query::SessionLease>* rollbacks,
                            std::vector<HeldBackUser>* held_back);
  /// Takes out the statements idle since `cutoff` (under mutex_).
  void TakeIdleStatements(Clock::time_point cutoff,
                          std::vector<std::shared_ptr<StatementEntry>>* taken);
  /// Notes, and forgets once the idle timeout has passed, early ends (under mutex_).
  void NoteEarlyEnd(const std::string& id, Clock::time_point now, EndedEarly why);
  void ForgetEarlyEnds(Clock::time_point cutoff);

  std::shared_ptr<SessionStore> cookies_;
  const std::chrono::seconds idle_timeout_;
  const RegistryLimits limits_;
  const HeldTransactions pressure_;
  std::mutex mutex_;  // guards everything below
  /// The sessions clients present cookies for, by id.
  std::map<std::string, ClientSession> sessions_;
  /// What cookie-less calls made outside any session, by their user and gRPC connection.
  std::map<std::string, ClientSession> sessionless_;
  /// Where each open handle is held.
  std::map<std::string, Where> statements_;
  std::map<std::string, Where> transactions_;
  /// Transactions the server ended before their client did (EndedEarly), with when and
  /// why, for the error their client's next call gets (the newest kMaxEarlyEnds kept).
  struct EarlyEnd {
    Clock::time_point at;
    EndedEarly why;
  };
  std::map<std::string, EarlyEnd> ended_early_;
  static constexpr size_t kMaxEarlyEnds = 1024;
  /// When the sweep last freed what clients held because the database was being
  /// reopened: their calls within the idle timeout after are told so.
  std::optional<Clock::time_point> freed_for_reopen_at_;
  int64_t held_bytes_ = 0;
  std::map<std::string, int64_t> held_bytes_by_user_;  // what each user holds of held_bytes_
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
