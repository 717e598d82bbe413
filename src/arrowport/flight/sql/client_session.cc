#include "arrowport/flight/sql/client_session.h"

#include <algorithm>

#include "arrowport/query/prepared_query.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

using Clock = ClientSession::Clock;

std::shared_ptr<query::SessionConnection> StatementEntry::connection() const {
  return statement ? statement->connection() : nullptr;
}

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
  if (lease) (void)query::QueryPipeline::RollbackOrDiscard(lease);
}

}  // namespace

ClientSession::ClientSession(std::string user, Clock::time_point now)
    : user_(std::move(user)), last_used_(now) {}

void ClientSession::NoteUse(Clock::time_point when) { last_used_ = std::max(last_used_, when); }

bool ClientSession::HoldsNothing() const {
  return statements_.empty() && transactions_.empty() && pinned_ == nullptr;
}

bool ClientSession::HoldsTransaction(const std::shared_ptr<TransactionEntry>& entry) const {
  for (const auto& [id, held] : transactions_) {
    if (held.entry == entry) return true;
  }
  return false;
}

std::shared_ptr<TransactionEntry> ClientSession::OnlyTransaction(int* count) const {
  *count = static_cast<int>(transactions_.size());
  return transactions_.size() == 1 ? transactions_.begin()->second.entry : nullptr;
}

void ClientSession::NotePinnedUse() {
  for (auto& [id, held] : transactions_) {
    if (held.entry == pinned_) held.last_used = Clock::now();
  }
}

void ClientSession::Unpin(const std::shared_ptr<TransactionEntry>& entry) {
  if (pinned_ == entry) pinned_.reset();
}

void ClientSession::ConnectionsOf(
    const CloseScope& scope, std::vector<std::shared_ptr<query::SessionConnection>>* out) const {
  auto add = [out](std::shared_ptr<query::SessionConnection> connection) {
    // A closed connection has nothing to roll back, and no lease to give.
    if (connection == nullptr || connection->closed()) return;
    if (std::find(out->begin(), out->end(), connection) != out->end()) return;
    out->push_back(std::move(connection));
  };
  // (A cookie-less scope takes no pin: a pin needs the session's cookie.)
  if (pinned_ != nullptr && !scope.session.empty()) add(pinned_->connection);
  for (const auto& [id, held] : transactions_) {
    if (scope.Covers(held.entry->owner)) add(held.entry->connection);
  }
  for (const auto& [id, held] : statements_) {
    if (scope.Covers(held.entry->owner)) add(held.entry->connection());
  }
}

void ClientSession::Take(const CloseScope& scope, SessionContents* out) {
  for (auto it = statements_.begin(); it != statements_.end();) {
    if (!scope.Covers(it->second.entry->owner)) { ++it; continue; }
    out->statement_ids.push_back(it->first);
    out->statements.push_back(std::move(it->second.entry));
    it = statements_.erase(it);
  }
  for (auto it = transactions_.begin(); it != transactions_.end();) {
    if (!scope.Covers(it->second.entry->owner)) { ++it; continue; }
    out->transaction_ids.push_back(it->first);
    out->transactions.push_back(std::move(it->second.entry));
    it = transactions_.erase(it);
  }
}

void ClientSession::TakeAll(SessionContents* out) {
  for (auto& [id, held] : statements_) {
    out->statement_ids.push_back(id);
    out->statements.push_back(std::move(held.entry));
  }
  statements_.clear();
  for (auto& [id, held] : transactions_) {
    out->transaction_ids.push_back(id);
    out->transactions.push_back(std::move(held.entry));
  }
  transactions_.clear();
  if (pinned_ != nullptr) {
    const auto& taken = out->transactions;
    // Its temporary tables go too.
    if (std::find(taken.begin(), taken.end(), pinned_) == taken.end()) {
      out->transactions.push_back(pinned_);
    }
    pinned_.reset();
  }
}

void ClientSession::RefreshUses() {
  // A session is in use while any of its connections is.
  for (auto& [id, held] : statements_) {
    held.last_used = LastUse(held.entry->connection().get(), held.last_used);
    NoteUse(held.last_used);
  }
  for (auto& [id, held] : transactions_) {
    held.last_used = LastUse(held.entry->connection.get(), held.last_used);
    NoteUse(held.last_used);
  }
  if (pinned_ != nullptr) NoteUse(LastUse(pinned_->connection.get(), Clock::time_point{}));
}

void ClientSession::End(SessionContents taken, std::vector<query::SessionLease> leases) {
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
  // The statements (and the transactions' entries) are freed as `taken` goes.
}

}  // namespace arrowport::flight::sql
