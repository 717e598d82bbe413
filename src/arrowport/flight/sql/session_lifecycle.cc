// How sessions end: closed by their client, idle past the timeout, or at shutdown. What
// they hold is rolled back or freed, and what still runs in them is stopped first.
#include <algorithm>
#include <vector>

#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/session_registry.h"
#include "arrowport/flight/sql/session_store.h"
#include "arrowport/query/prepared_query.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

using Clock = std::chrono::steady_clock;

namespace {

// When `connection` was last in use: now while a lease exists, else when the last one
// ended (or `last_used` when that was later).
Clock::time_point LastUse(const query::SessionConnection* connection,
                          Clock::time_point last_used) {
  if (connection == nullptr) return last_used;
  const auto idle = connection->IdleSince();
  if (!idle) return Clock::now();
  return std::max(*idle, last_used);
}

// Rolls back under `lease` whatever transaction is open; a ROLLBACK DuckDB refuses is
// not taken for done: the connection is closed, which rolls it back.
void RollBackOrDiscard(query::SessionLease lease) {
  if (lease) (void)lease.RollbackOrDiscard();
}

}  // namespace

arrow::Status SessionRegistry::CloseSession(const Caller& caller, Clock::time_point deadline) {
  // ADBC's close sends no cookie: it is known by its user and gRPC connection.
  const CloseScope scope =
      caller.session.empty() ? CloseScope{"", caller.user, caller.connection}
                             : CloseScope{caller.session, "", ""};
  if (scope.session.empty() && scope.connection.empty()) return arrow::Status::OK();
  std::vector<std::shared_ptr<query::SessionConnection>> connections;
  std::vector<std::shared_ptr<CallCancellation>> running;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = sessions_.find(scope.session);
    if (found != sessions_.end() && found->second.user != caller.user) {
      return PermissionDenied("this Flight SQL session belongs to another user");
    }
    connections = ConnectionsOf(scope);
    // A cookie-less close stops only what runs on what it ends (AcquireStopping below):
    // its gRPC connection may carry other clients' calls of the same process (grpcio's
    // channels to one address share one).
    for (const auto& [id, call] : running_) {
      if (!scope.session.empty() && scope.Covers(call.owner)) {
        running.push_back(call.cancellation);
      }
    }
  }
  // The session's own DoGets end first: a stream left unread must not hold its close.
  const auto closed = arrow::Status::Cancelled("the client closed its Flight SQL session");
  for (auto& cancellation : running) cancellation->Cancel(closed);
  std::vector<query::SessionLease> leases;
  for (const auto& connection : connections) {
    ARROW_ASSIGN_OR_RAISE(auto lease, connection->AcquireStopping("closing the session",
                                                                  deadline, nullptr, closed,
                                                                  /*any_call=*/true));
    leases.push_back(std::move(lease));
  }
  SessionContents taken;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    taken = TakeSession(scope);
  }
  EndSession(scope, std::move(taken), std::move(leases));
  return arrow::Status::OK();
}

void SessionRegistry::CloseIdleSession(const std::string& session, Clock::time_point cutoff) {
  const CloseScope scope{session, "", ""};
  SessionContents taken;
  std::vector<query::SessionLease> leases;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = sessions_.find(session);
    if (found == sessions_.end() || found->second.last_used >= cutoff) return;
    // Closed only when none of its connections is in use: no waiting here.
    for (const auto& connection : ConnectionsOf(scope)) {
      auto lease = connection->TryAcquire("closing an idle session");
      if (!lease) return;
      leases.push_back(std::move(*lease));
    }
    taken = TakeSession(scope);
  }
  EndSession(scope, std::move(taken), std::move(leases));
}

void SessionRegistry::EndSession(const CloseScope& scope, SessionContents taken,
                                 std::vector<query::SessionLease> leases) {
  for (const auto& txn : taken.transactions) {
    bool leased = false;
    for (const auto& lease : leases) leased |= lease.connection() == txn->connection;
    // Added after the leases were taken: rolled back now if free, else by its last
    // holder closing it.
    if (!leased) {
      if (auto lease = txn->connection->TryAcquire("closing the session")) {
        leases.push_back(std::move(*lease));
      }
    }
  }
  for (auto& lease : leases) RollBackOrDiscard(std::move(lease));
  taken = {};
  if (cookies_ && !scope.session.empty()) cookies_->Close(scope.session);
}

void SessionRegistry::Close() {
  std::map<std::string, Held<StatementEntry>> statements;
  std::map<std::string, Held<TransactionEntry>> transactions;
  std::map<std::string, std::shared_ptr<TransactionEntry>> pinned;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    statements.swap(statements_);
    transactions.swap(transactions_);
    pinned.swap(pinned_);
    sessions_.clear();
  }
  statements.clear();
  // Calls have ended (the server stopped first); a connection still leased is closed
  // with its last reference, which rolls it back too.
  auto roll_back = [](const std::shared_ptr<TransactionEntry>& entry) {
    if (auto lease = entry->connection->TryAcquire("server shutdown")) {
      RollBackOrDiscard(std::move(*lease));
    }
  };
  for (auto& [id, held] : transactions) roll_back(held.entry);
  for (auto& [session, entry] : pinned) roll_back(entry);
}

size_t SessionRegistry::open_statements() {
  std::lock_guard<std::mutex> lock(mutex_);
  return statements_.size();
}

size_t SessionRegistry::open_transactions() {
  std::lock_guard<std::mutex> lock(mutex_);
  return transactions_.size();
}

Clock::time_point SessionRegistry::TransactionCutoff(Clock::time_point now) const {
  const auto cutoff = now - idle_timeout_;
  if (!pressure_.checkpoint_waits || pressure_.idle_timeout >= idle_timeout_ ||
      !pressure_.checkpoint_waits()) {
    return cutoff;
  }
  return now - pressure_.idle_timeout;
}

void SessionRegistry::SweepLoop() {
  const auto tick = std::max<std::chrono::milliseconds>(
      std::chrono::milliseconds(200),
      std::min<std::chrono::milliseconds>(
          {std::chrono::milliseconds(std::chrono::seconds(5)), idle_timeout_ / 4,
           pressure_.idle_timeout / 4}));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    stop_changed_.wait_for(lock, tick, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    Sweep();
    lock.lock();
  }
}

void SessionRegistry::Sweep() {
  const auto now = Clock::now();
  const auto idle_cutoff = now - idle_timeout_;
  // Asked outside mutex_: they read the database's state.
  const bool reopening = pressure_.database_reopening && pressure_.database_reopening();
  const auto cutoff = reopening ? now : idle_cutoff;
  const auto transaction_cutoff = reopening ? now : TransactionCutoff(now);
  std::vector<HeldBackUser> held_back;  // rolled back before the idle timeout, for the log
  std::vector<std::string> idle_sessions;
  std::vector<std::shared_ptr<StatementEntry>> statements;
  std::vector<query::SessionLease> rollbacks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A session is in use while any of its connections is: one pass over what sessions
    // hold (not one per session: a flood of sessions must not make the sweep quadratic).
    auto session_used = [this](const std::string& session, Clock::time_point used) {
      auto found = sessions_.find(session);
      if (found != sessions_.end()) {
        found->second.last_used = std::max(found->second.last_used, used);
      }
    };
    for (auto& [id, held] : statements_) {
      held.last_used = LastUse(held.entry->connection().get(), held.last_used);
      session_used(held.entry->owner.session, held.last_used);
    }
    for (auto& [id, held] : transactions_) {
      held.last_used = LastUse(held.entry->connection.get(), held.last_used);
      session_used(held.entry->owner.session, held.last_used);
    }
    for (const auto& [session, entry] : pinned_) {
      session_used(session, LastUse(entry->connection.get(), Clock::time_point{}));
    }
    for (auto& [id, session] : sessions_) {
      if (session.last_used < cutoff) idle_sessions.push_back(id);
    }
    for (auto it = statements_.begin(); it != statements_.end();) {
      if (it->second.last_used >= cutoff) { ++it; continue; }
      statements.push_back(std::move(it->second.entry));
      it = statements_.erase(it);
    }
    TakeIdleTransactions(now, transaction_cutoff, reopening, &rollbacks, &held_back);
    ForgetEarlyEnds(idle_cutoff);
    if (reopening && (!statements.empty() || !rollbacks.empty() || !idle_sessions.empty())) {
      freed_for_reopen_at_ = now;
    }
  }
  statements.clear();
  for (auto& lease : rollbacks) RollBackOrDiscard(std::move(lease));
  for (const auto& session : idle_sessions) CloseIdleSession(session, cutoff);
  if (pressure_.on_rolled_back) {
    for (const auto& [user, why] : held_back) {
      pressure_.on_rolled_back(
          why, "a transaction of user '" + user + "' unused for " +
                   std::to_string(pressure_.idle_timeout.count()) +
                   (why == EndedEarly::kForWriter ? " s while another writer waited for a table "
                                               "it had written"
                                             : " s while a due checkpoint waited"));
    }
  }
}

void SessionRegistry::TakeIdleTransactions(Clock::time_point now,
                                           Clock::time_point transaction_cutoff,
                                           bool reopening,
                                           std::vector<query::SessionLease>* rollbacks,
                                           std::vector<HeldBackUser>* held_back) {
  const auto cutoff = now - idle_timeout_;
  const auto held_cutoff = now - pressure_.idle_timeout;
  // One in use, or used within the limit, may hold the checkpoint back itself: rolling
  // back idle ones would not let it run (a hostile run kept one busy, a result open or
  // a statement every second, to get others' rolled back). Rolled back only once all are
  // idle past the limit. A database being reopened has lost them all: every idle one goes.
  if (!reopening) {
    for (const auto& [id, held] : transactions_) {
      if (transaction_cutoff > cutoff && held.last_used >= transaction_cutoff) {
        transaction_cutoff = cutoff;
      }
    }
  }
  for (auto it = transactions_.begin(); it != transactions_.end();) {
    // Another writer waits for a table it wrote: idle long enough, it goes whatever the
    // others do (a rollback lets that writer in).
    const bool holds_up_writer = !reopening && it->second.last_used < held_cutoff &&
                                 it->second.entry->connection->HoldsUpOthers();
    if (it->second.last_used >= transaction_cutoff && !holds_up_writer) { ++it; continue; }
    if (it->second.entry->connection->closed()) {  // rolled back as it was closed
      it = transactions_.erase(it);
      continue;
    }
    // Taken now or left for the next sweep: a call may have leased it since.
    auto lease = it->second.entry->connection->TryAcquire("rolling back an idle transaction");
    if (!lease) { ++it; continue; }
    // Idle for the checkpoint's sake only. Every open transaction counts, readers too:
    // DuckDB 2.0 refused the checkpoint ("other write transactions active") while an
    // ADBC transaction that had only read a table sat idle (measured, tests/e2e).
    if (!reopening && it->second.last_used >= cutoff) {
      const EndedEarly why = holds_up_writer ? EndedEarly::kForWriter : EndedEarly::kForCheckpoint;
      held_back->push_back({it->second.entry->owner.user, why});
      NoteEarlyEnd(it->first, now, why);
    }
    rollbacks->push_back(std::move(*lease));
    it = transactions_.erase(it);
  }
}

void SessionRegistry::NoteEarlyEnd(const std::string& id, Clock::time_point now,
                                   EndedEarly why) {
  if (ended_early_.size() >= kMaxEarlyEnds) {
    auto oldest = ended_early_.begin();
    for (auto it = ended_early_.begin(); it != ended_early_.end(); ++it) {
      if (it->second.at < oldest->second.at) oldest = it;
    }
    ended_early_.erase(oldest);
  }
  ended_early_[id] = {now, why};
}

void SessionRegistry::ForgetEarlyEnds(Clock::time_point cutoff) {
  for (auto it = ended_early_.begin(); it != ended_early_.end();) {
    it = it->second.at < cutoff ? ended_early_.erase(it) : std::next(it);
  }
}

}  // namespace arrowport::flight::sql
