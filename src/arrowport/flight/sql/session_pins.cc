// SessionRegistry's connections pinned to a session (session_registry.h: Pin): where a
// session's temporary tables live, shared with the transaction open on them.
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/session_registry.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

arrow::Result<std::shared_ptr<TransactionEntry>> SessionRegistry::Pin(
    const Caller& caller,
    const std::function<arrow::Result<std::shared_ptr<TransactionEntry>>()>& make) {
  if (caller.session.empty()) {
    return arrow::Status::Invalid("a pinned connection needs a session");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  TouchSession(caller.session, caller.user);
  auto found = pinned_.find(caller.session);
  if (found != pinned_.end()) {
    if (!found->second->owner.Allows(caller)) return UnknownTransaction("");
    return found->second;
  }
  std::shared_ptr<TransactionEntry> open;
  int owned = 0;
  for (const auto& [id, held] : transactions_) {
    if (held.entry->owner.session != caller.session) continue;
    ++owned;
    open = held.entry;
  }
  if (owned == 1 && !open->owner.Allows(caller)) return UnknownTransaction("");
  if (owned != 1) {
    // Connections held open: transactions, and pins that are not one of them.
    int64_t held = static_cast<int64_t>(transactions_.size());
    for (const auto& [session, entry] : pinned_) {
      bool in_transactions = false;
      for (const auto& [id, txn] : transactions_) in_transactions |= txn.entry == entry;
      held += in_transactions ? 0 : 1;
    }
    if (held >= limits_.transactions_total) {
      return TooLarge("the server holds its limit of ", limits_.transactions_total,
                      " open transactions and session connections; close some, or wait "
                      "for idle ones to expire after ", idle_timeout_.count(), " s");
    }
    ARROW_ASSIGN_OR_RAISE(open, make());
    open->owner = Owner::Of(caller);
  }
  pinned_[caller.session] = open;
  return open;
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
  bool open = false;
  for (const auto& [id, held] : transactions_) open |= held.entry == entry;
  if (!open || sessions_.count(session) == 0) return UnknownTransaction("");
  auto [pinned, added] = pinned_.emplace(session, entry);
  if (!added && pinned->second != entry) {
    return arrow::Status::Invalid(
        "this session's temporary tables live on its own connection, and this transaction "
        "runs on another: ingest the temporary table without the transaction id");
  }
  TouchSession(session, entry->owner.user);
  return arrow::Status::OK();
}

std::shared_ptr<TransactionEntry> SessionRegistry::Pinned(const Caller& caller) {
  if (caller.session.empty()) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = pinned_.find(caller.session);
  if (found == pinned_.end() || !found->second->owner.Allows(caller)) return nullptr;
  if (found->second->connection->closed()) {
    // Closed when a transaction on it would not end (its temporary tables went with it):
    // the session goes on with fresh connections.
    pinned_.erase(found);
    return nullptr;
  }
  // A transaction open on it is in use too, even by calls that do not name it.
  for (auto& [id, held] : transactions_) {
    if (held.entry == found->second) held.last_used = std::chrono::steady_clock::now();
  }
  return found->second;
}

void SessionRegistry::Unpin(const std::shared_ptr<TransactionEntry>& entry) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = pinned_.begin(); it != pinned_.end();) {
    it = it->second == entry ? pinned_.erase(it) : std::next(it);
  }
}

}  // namespace arrowport::flight::sql
