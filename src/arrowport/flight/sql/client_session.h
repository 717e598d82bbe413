#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "arrow/type_fwd.h"

namespace arrowport::query {
class PreparedQuery;
class SessionConnection;
class SessionLease;
}  // namespace arrowport::query

namespace arrowport::flight::sql {

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
  /// it (see SessionRegistry::SettleRefusedEnd). A retry of the EndTransaction by its id
  /// works as before. Reset when a transaction begins on the connection again.
  enum class RefusedEnd : uint8_t { kNone, kCommit, kRollback };
  std::atomic<RefusedEnd> refused_end{RefusedEnd::kNone};
};

/// What one close takes: a session's holdings (by its cookie), or, for a cookie-less
/// close, what the cookie-less calls of one user made on one gRPC connection, in
/// whichever session they are.
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

/// What a close took out of a session: ended together by ClientSession::End.
struct SessionContents {
  std::vector<std::shared_ptr<StatementEntry>> statements;
  std::vector<std::shared_ptr<TransactionEntry>> transactions;  // pinned one included
  std::vector<std::string> statement_ids;
  std::vector<std::string> transaction_ids;  // of those that were open transactions
};

/// \brief One Flight SQL client session and everything it holds open: its prepared
/// statements, its transactions and the connection pinned to it (where its temporary
/// tables live). Each is the session's alone; the session itself belongs to the user
/// that first used it. Cookie-less handles made outside any session are held by one
/// ClientSession per user and gRPC connection (what ADBC's cookie-less close ends).
///
/// However a session ends (its client's CloseSession, the idle timeout, a database being
/// reopened, the server's shutdown), what it held is taken out with Take() and ended by
/// End(): transactions rolled back, a ROLLBACK DuckDB refuses never taken for done.
///
/// Not thread-safe: SessionRegistry, which keeps every session by its cookie, calls it
/// under its mutex (End excepted, which runs outside it).
class ClientSession {
 public:
  using Clock = std::chrono::steady_clock;
  template <typename T>
  struct Held {
    std::shared_ptr<T> entry;
    Clock::time_point last_used;
  };
  template <typename T>
  using HeldMap = std::map<std::string, Held<T>>;

  explicit ClientSession(std::string user, Clock::time_point now = Clock::now());

  /// Who owns it (the first user to use it).
  const std::string& user() const { return user_; }
  Clock::time_point last_used() const { return last_used_; }
  /// Notes a use at `when` (never moves its last use back).
  void NoteUse(Clock::time_point when);
  /// True when it holds no statement, transaction or pinned connection.
  bool HoldsNothing() const;

  HeldMap<StatementEntry>& statements() { return statements_; }
  HeldMap<TransactionEntry>& transactions() { return transactions_; }
  /// True while `entry` is one of its open transactions.
  bool HoldsTransaction(const std::shared_ptr<TransactionEntry>& entry) const;
  /// Its one open transaction when it has exactly one (null otherwise); `count` gets
  /// how many it has.
  std::shared_ptr<TransactionEntry> OnlyTransaction(int* count) const;

  /// The connection pinned to it (null: none).
  const std::shared_ptr<TransactionEntry>& pinned() const { return pinned_; }
  /// Notes a use of its pinned connection: a transaction open on it is in use too, even
  /// by calls that do not name it.
  void NotePinnedUse();
  void Pin(std::shared_ptr<TransactionEntry> entry) { pinned_ = std::move(entry); }
  /// Lets go of the pin when it is `entry` (its connection was discarded).
  void Unpin(const std::shared_ptr<TransactionEntry>& entry);

  /// Adds to `out` the connections `scope` covers here that are still open (each once).
  void ConnectionsOf(const CloseScope& scope,
                     std::vector<std::shared_ptr<query::SessionConnection>>* out) const;
  /// Takes out the statements and transactions `scope` covers (a cookie-less close).
  void Take(const CloseScope& scope, SessionContents* out);
  /// Takes out everything, the pinned connection too: the session closes.
  void TakeAll(SessionContents* out);
  /// Brings each entry's last use up to date from its connection (one in use is in use
  /// now), and the session's from theirs.
  void RefreshUses();

  /// \brief Ends what a close took: every transaction rolled back under its lease
  /// (`leases`, else one taken now if the connection is free; one still in use is
  /// rolled back by its last holder closing it), statements freed. A ROLLBACK DuckDB
  /// refuses closes the connection, which rolls back.
  static void End(SessionContents taken, std::vector<query::SessionLease> leases);

 private:
  std::string user_;
  Clock::time_point last_used_;
  HeldMap<StatementEntry> statements_;
  HeldMap<TransactionEntry> transactions_;
  std::shared_ptr<TransactionEntry> pinned_;
};

}  // namespace arrowport::flight::sql
