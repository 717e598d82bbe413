// SessionRegistry: a session's transactions, begun and ended, and the connection pinned
// to it (where its temporary tables live, shared with the transaction open on it).
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/session_registry.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

using RefusedEnd = TransactionEntry::RefusedEnd;
using query::QueryPipeline;

arrow::Result<std::string> SessionRegistry::BeginTransaction(const Caller& caller,
                                                             const OpenConnection& open,
                                                             const SessionWait& wait) {
  // Told to a writer that waits in vain for a table this transaction writes (its user,
  // not its address: the writer may be another user).
  const std::string holder = "a Flight SQL transaction of user '" + caller.user + "'";
  std::shared_ptr<TransactionEntry> entry;
  query::SessionLease lease;
  if (auto pinned = Pinned(caller)) {
    // The session's temporary tables live on its pinned connection: transactions too.
    ARROW_ASSIGN_OR_RAISE(lease, pinned->connection->Acquire("beginning a transaction",
                                                             wait.deadline, wait.cancellation));
    // A rollback refused earlier while the connection was busy is done first.
    if (pinned->refused_end.load() == RefusedEnd::kRollback) {
      ARROW_RETURN_NOT_OK(SettleRefusedEnd(lease, "", pinned));
    }
    if (!QueryPipeline::InTransaction(lease)) {
      ARROW_RETURN_NOT_OK(QueryPipeline::Begin(lease, holder));
      pinned->refused_end = RefusedEnd::kNone;
      entry = pinned;
    } else {
      lease.Release();  // the session's own transaction: this one gets a connection of its own
    }
  }
  if (entry == nullptr) {
    entry = std::make_shared<TransactionEntry>();
    ARROW_ASSIGN_OR_RAISE(entry->connection, open());
    entry->owner = Owner::Of(caller);
    ARROW_ASSIGN_OR_RAISE(lease, entry->connection->Acquire("beginning a transaction",
                                                            wait.deadline, wait.cancellation));
    ARROW_RETURN_NOT_OK(QueryPipeline::Begin(lease, holder));
  }
  auto id = AddTransaction(entry);
  if (!id.ok()) {
    // A pinned connection stays, without the transaction.
    auto st = QueryPipeline::RollbackOrDiscard(lease);
    if (!st.ok()) return id.status().WithMessage(id.status().message(), "; ", st.message());
  }
  return id;
}

arrow::Status SessionRegistry::EndTransaction(const Caller& caller, const std::string& id,
                                              bool rollback, const SessionWait& wait,
                                              const std::function<bool()>& call_gone) {
  ARROW_ASSIGN_OR_RAISE(auto entry, FindTransaction(id, caller));
  ARROW_ASSIGN_OR_RAISE(auto lease, LeaseToEnd(entry, rollback, wait));
  // Another call may have ended it while this one waited.
  ARROW_RETURN_NOT_OK(TakeTransaction(id, caller, entry));
  if (!rollback) return CommitTaken(entry, std::move(lease), call_gone);
  auto st = QueryPipeline::Rollback(lease);
  if (st.ok()) return st;
  // Never "OK" for a rollback not done: the connection is closed, which rolls back.
  Discard(entry, std::move(lease));
  return arrow::Status::IOError(st.message(), "; the transaction's connection was closed, "
                                "which rolled it back (temporary tables of the session "
                                "are gone with it)");
}

arrow::Result<query::SessionLease> SessionRegistry::LeaseToEnd(
    const std::shared_ptr<TransactionEntry>& entry, bool rollback, const SessionWait& wait) {
  // A transaction is ended only when nothing else runs on it. A result still being read
  // in it is stopped first, as PostgreSQL closes a transaction's cursors when it ends:
  // the client asked for the transaction to end, and arrow-go clients (ADBC) forget it
  // whatever the answer, so a refusal left their connection unusable. A result stops
  // between DuckDB's chunks, which aborts nothing: its transaction's work commits. A
  // statement still running (a query before its first rows, an insert) would abort the
  // transaction if interrupted: a rollback stops it too, a commit waits for it.
  auto leased = entry->connection->AcquireStopping(
      rollback ? "rolling back the transaction" : "committing the transaction",
      wait.deadline, wait.cancellation,
      arrow::Status::Cancelled("the client ", rollback ? "rolled back" : "committed",
                               " the transaction this call ran in, which ends what runs "
                               "in it"),
      /*any_call=*/rollback);
  if (leased.ok()) return leased;
  // Nothing let go of the connection in time. arrow-go clients forget the id whatever the
  // answer: a rollback asked for is done once the connection is free, and a transaction
  // whose commit was refused must not take in calls that name no transaction
  // (SettleRefusedEnd).
  entry->refused_end = rollback ? RefusedEnd::kRollback : RefusedEnd::kCommit;
  const auto& st = leased.status();
  return st.WithMessage(st.message(), rollback
      ? "; the transaction will be rolled back as soon as its connection is free: "
        "nothing of it will commit"
      : "; the transaction is still open: commit it again by its id once the result is "
        "read, or roll it back");
}

arrow::Status SessionRegistry::CommitTaken(const std::shared_ptr<TransactionEntry>& entry,
                                           query::SessionLease lease,
                                           const std::function<bool()>& call_gone) {
  if (!QueryPipeline::InTransaction(lease)) {
    // Not open any more (a failed ingest that DuckDB would not abort rolled it back).
    return arrow::Status::Invalid("the transaction was rolled back by an earlier failure; "
                                  "nothing was committed");
  }
  // DuckDB answers COMMIT of a transaction an earlier statement aborted by rolling it
  // back silently; the client must hear that its work is gone.
  auto roll_back = [&] {
    if (!QueryPipeline::Rollback(lease).ok()) Discard(entry, std::move(lease));  // closing rolls back
  };
  auto alive = QueryPipeline::CheckTransactionAlive(lease);
  if (!alive.ok()) {
    roll_back();
    return arrow::Status::Invalid(
        "the transaction was aborted by an earlier failed statement and has been rolled "
        "back; nothing was committed (", alive.message(), ")");
  }
  if (call_gone && call_gone()) {
    // The client would not hear that it committed (it left, or its deadline leaves the
    // answer no time, perhaps after a long wait for the lease): nothing may commit.
    roll_back();
    return arrow::Status::Cancelled(
        "the call failed or was cancelled (client gone, deadline passed or too near to "
        "answer in time) before the commit: the transaction was rolled back, nothing was "
        "committed");
  }
  auto st = QueryPipeline::Commit(lease);
  if (!st.ok() && QueryPipeline::InTransaction(lease)) {
    // DuckDB neither committed nor rolled back: closing the connection rolls back.
    Discard(entry, std::move(lease));
    return st.WithMessage("commit failed, and the transaction's connection was closed, "
                          "which rolled it back (temporary tables of the session are gone "
                          "with it): ", st.message());
  }
  if (!st.ok()) {
    return st.WithMessage("commit failed, the transaction was rolled back: ", st.message());
  }
  return arrow::Status::OK();
}

arrow::Status SessionRegistry::CheckLeased(query::SessionLease& lease, const std::string& id,
                                           const std::shared_ptr<TransactionEntry>& entry) {
  if (!id.empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto* open = OpenTransaction(id);
    if (open == nullptr || open->entry != entry) {
      // Like an unknown transaction (NOT_FOUND): no retry can find it again.
      return arrow::Status::KeyError("the transaction ended (committed, rolled back or "
                                     "expired) while this call waited for it; nothing was "
                                     "run");
    }
  }
  return SettleRefusedEnd(lease, id, entry);
}

arrow::Status SessionRegistry::SettleRefusedEnd(query::SessionLease& lease,
                                                const std::string& id,
                                                const std::shared_ptr<TransactionEntry>& entry) {
  if (entry == nullptr || entry->refused_end.load() == RefusedEnd::kNone) {
    return arrow::Status::OK();
  }
  if (!QueryPipeline::InTransaction(lease) || entry->connection->closed()) {
    entry->refused_end = RefusedEnd::kNone;  // ended meanwhile (the sweeper rolled it back)
    return arrow::Status::OK();
  }
  if (entry->refused_end.load() == RefusedEnd::kCommit) {
    if (!id.empty()) return arrow::Status::OK();  // the client still names it
    return InUse("this session's connection is inside a transaction whose commit was "
                 "refused (its connection was busy) and that is still open; a call that "
                 "names no transaction would run inside it and be rolled back with it. "
                 "Commit or roll back that transaction by its id, or close the session "
                 "(which rolls it back)");
  }
  // The rollback the client asked for while a result was still being read.
  ForgetTransaction(entry);
  entry->refused_end = RefusedEnd::kNone;
  auto st = QueryPipeline::RollbackOrDiscard(lease);
  if (!st.ok()) {
    Unpin(entry);
    return st.WithMessage("the rollback asked for earlier failed, and the connection is "
                          "closed, which rolls it back: ", st.message(), "; retry");
  }
  if (!id.empty()) {
    return arrow::Status::KeyError("the transaction was rolled back, as asked by a "
                                   "rollback refused earlier while its connection was "
                                   "busy");
  }
  return arrow::Status::OK();
}

ClientSession::Held<TransactionEntry>* SessionRegistry::OpenTransaction(const std::string& id) {
  auto where = transactions_.find(id);
  ClientSession* holder = where == transactions_.end() ? nullptr : Holder(where->second);
  if (holder == nullptr) return nullptr;
  auto it = holder->transactions().find(id);
  return it == holder->transactions().end() ? nullptr : &it->second;
}

arrow::Result<std::string> SessionRegistry::AddTransaction(
    std::shared_ptr<TransactionEntry> entry) {
  std::lock_guard<std::mutex> lock(mutex_);
  return AddHeld(&transactions_, entry, limits_.transactions_per_session,
                 limits_.transactions_total, "transactions");
}

arrow::Result<std::shared_ptr<TransactionEntry>> SessionRegistry::FindTransaction(
    const std::string& id, const Caller& caller) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto* held = FindHeld<TransactionEntry>(&transactions_, id, caller);
  if (held == nullptr) return UnknownTransaction(id);
  return held->entry;
}

arrow::Status SessionRegistry::TakeTransaction(const std::string& id, const Caller& caller,
                                               const std::shared_ptr<TransactionEntry>& expected) {
  std::shared_ptr<TransactionEntry> entry;
  std::lock_guard<std::mutex> lock(mutex_);
  auto* held = OpenTransaction(id);
  if (held == nullptr || held->entry != expected || !held->entry->owner.Allows(caller)) {
    return UnknownTransaction(id);
  }
  entry = std::move(held->entry);  // freed after the lock, with `entry`
  const Where where = transactions_[id];
  Holder(where)->transactions().erase(id);
  transactions_.erase(id);
  DropIfEmpty(where);
  return arrow::Status::OK();
}

bool SessionRegistry::ForgetTransaction(const std::shared_ptr<TransactionEntry>& entry) {
  std::lock_guard<std::mutex> lock(mutex_);
  ClientSession* holder = HolderOf(entry->owner, /*create=*/false);
  if (holder == nullptr) return false;
  auto& held = holder->transactions();
  for (auto it = held.begin(); it != held.end(); ++it) {
    if (it->second.entry != entry) continue;
    transactions_.erase(it->first);
    held.erase(it);
    // (`entry` is the caller's: nothing is freed under the lock.)
    DropIfEmpty(WhereOf(entry->owner));
    return true;
  }
  return false;
}

void SessionRegistry::Unpin(const std::shared_ptr<TransactionEntry>& entry) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ClientSession* holder = HolderOf(entry->owner, /*create=*/false)) holder->Unpin(entry);
}

void SessionRegistry::Discard(const std::shared_ptr<TransactionEntry>& entry,
                              query::SessionLease lease) {
  Unpin(entry);
  entry->connection->Discard(std::move(lease));
}

arrow::Result<std::shared_ptr<TransactionEntry>> SessionRegistry::Pin(
    const Caller& caller, const OpenConnection& open) {
  if (caller.session.empty()) {
    return arrow::Status::Invalid("a pinned connection needs a session");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  TouchSession(caller.session, caller.user);
  ClientSession& session = sessions_.at(caller.session);
  if (const auto& pinned = session.pinned()) {
    if (!pinned->owner.Allows(caller)) return UnknownTransaction("");
    return pinned;
  }
  int owned = 0;
  std::shared_ptr<TransactionEntry> entry = session.OnlyTransaction(&owned);
  if (owned == 1 && !entry->owner.Allows(caller)) return UnknownTransaction("");
  if (owned != 1) {
    // Connections held open: transactions, and pins that are not one of them.
    int64_t held = static_cast<int64_t>(transactions_.size());
    for (auto& [id, other] : sessions_) {
      const auto& pin = other.pinned();
      held += pin != nullptr && !other.HoldsTransaction(pin) ? 1 : 0;
    }
    if (held >= limits_.transactions_total) {
      return TooLarge("the server holds its limit of ", limits_.transactions_total,
                      " open transactions and session connections; close some, or wait "
                      "for idle ones to expire after ", idle_timeout_.count(), " s");
    }
    entry = std::make_shared<TransactionEntry>();
    ARROW_ASSIGN_OR_RAISE(entry->connection, open());
    entry->owner = Owner::Of(caller);
  }
  session.Pin(entry);
  return entry;
}

arrow::Status SessionRegistry::PinTransaction(const std::shared_ptr<TransactionEntry>& entry,
                                              const Caller& caller) {
  const std::string& session = entry->owner.session;
  // A caller without the transaction's session cookie never presents that session, so
  // nothing pins: the temporary table lasts as long as the transaction.
  if (session.empty() || !caller.presented_cookie || caller.session != session) {
    return arrow::Status::OK();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = sessions_.find(session);
  if (found == sessions_.end() || !found->second.HoldsTransaction(entry)) {
    return UnknownTransaction("");
  }
  const auto& pinned = found->second.pinned();
  if (pinned != nullptr && pinned != entry) {
    return arrow::Status::Invalid(
        "this session's temporary tables live on its own connection, and this transaction "
        "runs on another: ingest the temporary table without the transaction id");
  }
  found->second.Pin(entry);
  found->second.NoteUse(Clock::now());
  return arrow::Status::OK();
}

std::shared_ptr<TransactionEntry> SessionRegistry::Pinned(const Caller& caller) {
  if (caller.session.empty()) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = sessions_.find(caller.session);
  if (found == sessions_.end()) return nullptr;
  auto pinned = found->second.pinned();
  if (pinned == nullptr || !pinned->owner.Allows(caller)) return nullptr;
  if (pinned->connection->closed()) {
    // Closed when a transaction on it would not end (its temporary tables went with it):
    // the session goes on with fresh connections.
    found->second.Unpin(pinned);
    return nullptr;
  }
  found->second.NotePinnedUse();
  return pinned;
}

}  // namespace arrowport::flight::sql
