// How sessions end: closed by their client, idle past the timeout, freed for a database
// reopen, or at shutdown. Each way takes what the session holds out of it
// (ClientSession::Take) and ends it in one place (ClientSession::End); what still runs in
// it is stopped first.
#include <algorithm>
#include <vector>

#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/session_registry.h"
#include "arrowport/flight/sql/session_store.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

using Clock = std::chrono::steady_clock;

std::vector<std::shared_ptr<query::SessionConnection>> SessionRegistry::ConnectionsOf(
    const CloseScope& scope) {
  std::vector<std::shared_ptr<query::SessionConnection>> out;
  if (!scope.session.empty()) {
    auto found = sessions_.find(scope.session);
    if (found != sessions_.end()) found->second.ConnectionsOf(scope, &out);
    return out;
  }
  // A cookie-less close: what its user's cookie-less calls made on its connection, in
  // whichever session.
  for (const auto& [id, session] : sessions_) session.ConnectionsOf(scope, &out);
  for (const auto& [key, holder] : sessionless_) holder.ConnectionsOf(scope, &out);
  return out;
}

void SessionRegistry::TakeCovered(const CloseScope& scope, SessionContents* out) {
  if (!scope.session.empty()) {
    auto found = sessions_.find(scope.session);
    if (found != sessions_.end()) {
      found->second.TakeAll(out);
      sessions_.erase(found);
    }
  } else {
    for (auto& [id, session] : sessions_) session.Take(scope, out);
    for (auto it = sessionless_.begin(); it != sessionless_.end();) {
      it->second.Take(scope, out);
      it = it->second.HoldsNothing() ? sessionless_.erase(it) : std::next(it);
    }
    // Its client's next call naming one of them is told why.
    for (const auto& id : out->transaction_ids) {
      NoteEarlyEnd(id, Clock::now(), EndedEarly::kByClose);
    }
  }
  for (const auto& id : out->statement_ids) statements_.erase(id);
  for (const auto& id : out->transaction_ids) transactions_.erase(id);
}

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
    if (found != sessions_.end() && found->second.user() != caller.user) {
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
    TakeCovered(scope, &taken);
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
    if (found == sessions_.end() || found->second.last_used() >= cutoff) return;
    // Closed only when none of its connections is in use: no waiting here.
    for (const auto& connection : ConnectionsOf(scope)) {
      auto lease = connection->TryAcquire("closing an idle session");
      if (!lease) return;
      leases.push_back(std::move(*lease));
    }
    TakeCovered(scope, &taken);
  }
  EndSession(scope, std::move(taken), std::move(leases));
}

void SessionRegistry::EndSession(const CloseScope& scope, SessionContents taken,
                                 std::vector<query::SessionLease> leases) {
  ClientSession::End(std::move(taken), std::move(leases));
  if (cookies_ && !scope.session.empty()) cookies_->Close(scope.session);
}

void SessionRegistry::Close() {
  std::map<std::string, ClientSession> sessions;
  std::map<std::string, ClientSession> sessionless;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    sessions.swap(sessions_);
    sessionless.swap(sessionless_);
    statements_.clear();
    transactions_.clear();
  }
  // Calls have ended (the server stopped first); a connection still leased is closed
  // with its last reference, which rolls it back too.
  for (auto* holders : {&sessions, &sessionless}) {
    for (auto& [key, session] : *holders) {
      SessionContents taken;
      session.TakeAll(&taken);
      ClientSession::End(std::move(taken), {});
    }
  }
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
    for (auto& [id, session] : sessions_) {
      session.RefreshUses();
      if (session.last_used() < cutoff) idle_sessions.push_back(id);
    }
    for (auto& [key, holder] : sessionless_) holder.RefreshUses();
    TakeIdleStatements(cutoff, &statements);
    TakeIdleTransactions(now, transaction_cutoff, reopening, &rollbacks, &held_back);
    for (auto it = sessionless_.begin(); it != sessionless_.end();) {
      it = it->second.HoldsNothing() ? sessionless_.erase(it) : std::next(it);
    }
    ForgetEarlyEnds(idle_cutoff);
    if (reopening && (!statements.empty() || !rollbacks.empty() || !idle_sessions.empty())) {
      freed_for_reopen_at_ = now;
    }
  }
  statements.clear();
  ClientSession::End({}, std::move(rollbacks));  // the idle transactions taken above
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

void SessionRegistry::TakeIdleStatements(Clock::time_point cutoff,
                                         std::vector<std::shared_ptr<StatementEntry>>* taken) {
  for (auto where = statements_.begin(); where != statements_.end();) {
    ClientSession* holder = Holder(where->second);
    if (holder == nullptr || holder->statements().count(where->first) == 0) {
      // The index and the sessions change together on every path; a slip must not
      // crash the sweeper: the stray index entry goes.
      where = statements_.erase(where);
      continue;
    }
    auto& held = holder->statements();
    auto it = held.find(where->first);
    if (it->second.last_used >= cutoff) { ++where; continue; }
    taken->push_back(std::move(it->second.entry));
    held.erase(it);
    where = statements_.erase(where);
  }
}

void SessionRegistry::TakeIdleTransactions(Clock::time_point now,
                                           Clock::time_point transaction_cutoff,
                                           bool reopening,
                                           std::vector<query::SessionLease>* rollbacks,
                                           std::vector<HeldBackUser>* held_back) {
  const auto cutoff = now - idle_timeout_;
  const auto held_cutoff = now - pressure_.idle_timeout;
  // (As for statements: an index entry without its transaction goes, never a crash.)
  for (auto where = transactions_.begin(); where != transactions_.end();) {
    ClientSession* holder = Holder(where->second);
    const bool known = holder != nullptr && holder->transactions().count(where->first) != 0;
    where = known ? std::next(where) : transactions_.erase(where);
  }
  auto held_of = [this](const std::pair<const std::string, Where>& where) -> auto& {
    return Holder(where.second)->transactions().at(where.first);
  };
  // One in use, or used within the limit, may hold the checkpoint back itself: rolling
  // back idle ones would not let it run (a hostile run kept one busy, a result open or
  // a statement every second, to get others' rolled back). Rolled back only once all are
  // idle past the limit. A database being reopened has lost them all: every idle one goes.
  if (!reopening) {
    for (const auto& where : transactions_) {
      if (transaction_cutoff > cutoff && held_of(where).last_used >= transaction_cutoff) {
        transaction_cutoff = cutoff;
      }
    }
  }
  for (auto where = transactions_.begin(); where != transactions_.end();) {
    auto& held = held_of(*where);
    // Another writer waits for a table it wrote: idle long enough, it goes whatever the
    // others do (a rollback lets that writer in).
    const bool holds_up_writer = !reopening && held.last_used < held_cutoff &&
                                 held.entry->connection->HoldsUpOthers();
    if (held.last_used >= transaction_cutoff && !holds_up_writer) { ++where; continue; }
    auto take = [&] {
      Holder(where->second)->transactions().erase(where->first);
      where = transactions_.erase(where);
    };
    if (held.entry->connection->closed()) {  // rolled back as it was closed
      take();
      continue;
    }
    // Taken now or left for the next sweep: a call may have leased it since.
    auto lease = held.entry->connection->TryAcquire("rolling back an idle transaction");
    if (!lease) { ++where; continue; }
    // Idle for the checkpoint's sake only. Every open transaction counts, readers too:
    // DuckDB 2.0 refused the checkpoint ("other write transactions active") while an
    // ADBC transaction that had only read a table sat idle (measured, tests/e2e).
    if (!reopening && held.last_used >= cutoff) {
      const EndedEarly why = holds_up_writer ? EndedEarly::kForWriter : EndedEarly::kForCheckpoint;
      held_back->push_back({held.entry->owner.user, why});
      NoteEarlyEnd(where->first, now, why);
    }
    rollbacks->push_back(std::move(*lease));
    take();
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
