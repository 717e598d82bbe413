#include "arrowport/flight/sql/session_registry.h"

#include <random>
#include <vector>

#include "arrow/table.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/session_store.h"
#include "arrowport/storage/connection.h"
#include "arrowport/storage/prepared_statement.h"

namespace arrowport::flight::sql {

using Clock = std::chrono::steady_clock;

std::string RandomId() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int part = 0; part < 2; ++part) {
    uint64_t bits = engine();
    for (int i = 0; i < 16; ++i, bits >>= 4) out.push_back(kHex[bits & 0xF]);
  }
  return out;
}

SessionRegistry::SessionRegistry(std::shared_ptr<SessionStore> cookies,
                                 std::chrono::seconds idle_timeout, RegistryLimits limits)
    : cookies_(std::move(cookies)), idle_timeout_(idle_timeout), limits_(limits) {
  sweeper_ = std::thread([this] { SweepLoop(); });
}

SessionRegistry::~SessionRegistry() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_changed_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  Close();
}

std::string SessionRegistry::SessionId(const arrow::flight::sql::FlightSession* session) {
  if (!cookies_) return "";
  return cookies_->IdOf(session).value_or("");
}

void SessionRegistry::Touch(const std::string& session) {
  std::lock_guard<std::mutex> lock(mutex_);
  TouchSession(session);
}

void SessionRegistry::TouchSession(const std::string& session) {
  if (!session.empty()) sessions_[session] = Clock::now();
}

template <typename T>
arrow::Result<std::string> SessionRegistry::AddHeld(HeldMap<T>* map,
                                                    const std::shared_ptr<T>& entry,
                                                    int64_t per_session, int64_t total,
                                                    const char* what) {
  if (static_cast<int64_t>(map->size()) >= total) {
    return TooLarge("the server holds its limit of ", total, " open ", what,
                    " (all sessions); close some, or wait for idle ones to expire after ",
                    idle_timeout_.count(), " s");
  }
  const std::string& session = entry->owner.session;
  if (!session.empty()) {
    int64_t held = 0;
    for (const auto& [id, other] : *map) held += other.entry->owner.session == session;
    if (held >= per_session) {
      return TooLarge("this session holds its limit of ", per_session, " open ", what,
                      "; close some before opening more");
    }
  }
  std::string id = RandomId();
  TouchSession(session);
  (*map)[id] = {entry, Clock::now()};
  return id;
}

template <typename T>
typename SessionRegistry::HeldMap<T>::iterator SessionRegistry::FindHeld(
    HeldMap<T>* map, const std::string& id, const Caller& caller) {
  auto it = map->find(id);
  if (it == map->end() || !it->second.entry->owner.Allows(caller)) return map->end();
  it->second.last_used = Clock::now();
  TouchSession(caller.session);
  // The session that owns it is in use too, even when the caller (cookie-less) does not
  // present it: otherwise it would idle out and take the entry with it.
  TouchSession(it->second.entry->owner.session);
  return it;
}

template <typename T>
std::vector<std::shared_ptr<T>> SessionRegistry::TakeOwned(HeldMap<T>* map,
                                                           const std::string& session) {
  std::vector<std::shared_ptr<T>> taken;
  for (auto it = map->begin(); it != map->end();) {
    if (it->second.entry->owner.session != session) {
      ++it;
      continue;
    }
    taken.push_back(std::move(it->second.entry));
    it = map->erase(it);
  }
  return taken;
}

namespace {
arrow::Status UnknownStatement(std::chrono::seconds idle_timeout) {
  return arrow::Status::KeyError(
      "unknown prepared statement handle (closed, expired after ", idle_timeout.count(),
      " s idle, or owned by another session): prepare the statement again");
}
arrow::Status UnknownTransaction(std::chrono::seconds idle_timeout) {
  return arrow::Status::KeyError("unknown transaction id (ended, rolled back after ",
                                 idle_timeout.count(), " s idle, or owned by another session)");
}
}  // namespace

arrow::Result<std::string> SessionRegistry::AddStatement(
    std::shared_ptr<StatementEntry> entry) {
  std::lock_guard<std::mutex> lock(mutex_);
  // A refused entry is freed by our caller, after the lock is released.
  return AddHeld(&statements_, entry, limits_.statements_per_session,
                 limits_.statements_total, "prepared statements");
}

arrow::Result<std::shared_ptr<StatementEntry>> SessionRegistry::FindStatement(
    const std::string& handle, const Caller& caller) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = FindHeld(&statements_, handle, caller);
  if (it == statements_.end()) return UnknownStatement(idle_timeout_);
  return it->second.entry;
}

arrow::Status SessionRegistry::CloseStatement(const std::string& handle,
                                              const Caller& caller) {
  std::shared_ptr<StatementEntry> entry;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = statements_.find(handle);
    if (it == statements_.end() || !it->second.entry->owner.Allows(caller)) {
      return arrow::Status::KeyError("unknown prepared statement handle (already closed?)");
    }
    entry = std::move(it->second.entry);
    statements_.erase(it);
  }
  return arrow::Status::OK();  // entry is freed outside the lock
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
  auto it = FindHeld(&transactions_, id, caller);
  if (it == transactions_.end()) return UnknownTransaction(idle_timeout_);
  return it->second.entry;
}

arrow::Result<std::shared_ptr<TransactionEntry>> SessionRegistry::TakeTransaction(
    const std::string& id, const Caller& caller) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = transactions_.find(id);
  if (it == transactions_.end() || !it->second.entry->owner.Allows(caller)) {
    return UnknownTransaction(idle_timeout_);
  }
  auto entry = std::move(it->second.entry);
  transactions_.erase(it);
  return entry;
}

arrow::Result<std::shared_ptr<TransactionEntry>> SessionRegistry::Pin(
    const Caller& caller,
    const std::function<arrow::Result<std::shared_ptr<TransactionEntry>>()>& make) {
  if (caller.session.empty()) {
    return arrow::Status::Invalid("a pinned connection needs a session");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  TouchSession(caller.session);
  auto found = pinned_.find(caller.session);
  if (found != pinned_.end()) {
    // Sessions are not bound to users: another user presenting the cookie gets nothing.
    if (!found->second->owner.Allows(caller)) return UnknownTransaction(idle_timeout_);
    return found->second;
  }
  std::shared_ptr<TransactionEntry> open;
  int owned = 0;
  for (const auto& [id, held] : transactions_) {
    if (held.entry->owner.session != caller.session) continue;
    ++owned;
    open = held.entry;
  }
  if (owned == 1 && !open->owner.Allows(caller)) return UnknownTransaction(idle_timeout_);
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
  if (!open || sessions_.count(session) == 0) return UnknownTransaction(idle_timeout_);
  auto [pinned, added] = pinned_.emplace(session, entry);
  if (!added && pinned->second != entry) {
    return arrow::Status::Invalid(
        "this session's temporary tables live on its own connection, and this transaction "
        "runs on another: ingest the temporary table without the transaction id");
  }
  TouchSession(session);
  return arrow::Status::OK();
}

std::shared_ptr<TransactionEntry> SessionRegistry::Pinned(const std::string& session) {
  if (session.empty()) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = pinned_.find(session);
  if (found == pinned_.end()) return nullptr;
  // A transaction open on it is in use too, even by calls that do not name it.
  for (auto& [id, held] : transactions_) {
    if (held.entry == found->second) held.last_used = Clock::now();
  }
  return found->second;
}

arrow::Result<std::shared_ptr<void>> SessionRegistry::ChargeHeldBytes(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (bytes > limits_.held_bytes_total - held_bytes_) {
    return TooLarge("open prepared statements would hold more than ",
                    limits_.held_bytes_total >> 20, " MiB (flight.sql_max_held_bytes: their "
                    "bound parameters, and ", kHeldBytesPerSqlByte, " bytes per byte of SQL "
                    "text for DuckDB's plan); close statements, bind fewer rows or send "
                    "shorter SQL (", held_bytes_ >> 20, " MiB held, ", bytes >> 20,
                    " MiB asked)");
  }
  held_bytes_ += bytes;
  // The token's deleter gives the bytes back; the registry outlives every statement.
  return std::shared_ptr<void>(nullptr, [this, bytes](void*) {
    std::lock_guard<std::mutex> lock(mutex_);
    held_bytes_ -= bytes;
  });
}

std::shared_ptr<void> SessionRegistry::TrackRunning(
    const std::string& ticket, std::shared_ptr<CallCancellation> cancellation, Owner owner) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    id = next_running_++;
    running_[id] = {ticket, std::move(cancellation), std::move(owner)};
  }
  // The token's deleter unregisters the call; the registry outlives every call.
  return std::shared_ptr<void>(nullptr, [this, id](void*) {
    std::lock_guard<std::mutex> lock(mutex_);
    running_.erase(id);
  });
}

int SessionRegistry::CancelRunning(const std::string& ticket, const arrow::Status& reason,
                                   const Caller& caller) {
  std::vector<std::shared_ptr<CallCancellation>> matches;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, call] : running_) {
      if (call.ticket == ticket && call.owner.Allows(caller)) {
        matches.push_back(call.cancellation);
      }
    }
  }
  for (auto& cancellation : matches) cancellation->Cancel(reason);
  return static_cast<int>(matches.size());
}

void SessionRegistry::CloseSession(const std::string& session) {
  if (session.empty()) return;
  std::vector<std::shared_ptr<StatementEntry>> statements;
  std::vector<std::shared_ptr<TransactionEntry>> transactions;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    statements = TakeOwned(&statements_, session);
    transactions = TakeOwned(&transactions_, session);
    auto pinned = pinned_.find(session);
    if (pinned != pinned_.end()) {
      transactions.push_back(std::move(pinned->second));  // its temporary tables go too
      pinned_.erase(pinned);
    }
    sessions_.erase(session);
  }
  statements.clear();
  for (auto& txn : transactions) {
    std::lock_guard<std::mutex> lock(txn->mutex);
    txn->connection->Rollback();
  }
  if (cookies_) cookies_->Close(session);
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
  for (auto& [id, held] : transactions) {
    std::lock_guard<std::mutex> lock(held.entry->mutex);
    held.entry->connection->Rollback();
  }
  for (auto& [session, entry] : pinned) {
    std::lock_guard<std::mutex> lock(entry->mutex);
    entry->connection->Rollback();
  }
}

size_t SessionRegistry::open_statements() {
  std::lock_guard<std::mutex> lock(mutex_);
  return statements_.size();
}

size_t SessionRegistry::open_transactions() {
  std::lock_guard<std::mutex> lock(mutex_);
  return transactions_.size();
}

void SessionRegistry::SweepLoop() {
  const auto tick = std::max<std::chrono::milliseconds>(
      std::chrono::milliseconds(200),
      std::min<std::chrono::milliseconds>(std::chrono::seconds(5), idle_timeout_ / 4));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    stop_changed_.wait_for(lock, tick, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    Sweep();
    lock.lock();
  }
}

namespace {
// False while a call holds the entry (a statement or a long ingest runs on it): an entry
// in use is not idle, however long ago the call began.
bool NotInUse(TransactionEntry& entry) {
  if (!entry.mutex.try_lock()) return false;
  entry.mutex.unlock();
  return true;
}
}  // namespace

void SessionRegistry::Sweep() {
  const auto cutoff = Clock::now() - idle_timeout_;
  std::vector<std::string> idle_sessions;
  std::vector<std::shared_ptr<StatementEntry>> statements;
  std::vector<std::shared_ptr<TransactionEntry>> transactions;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, last] : sessions_) {
      if (last >= cutoff) continue;
      auto pinned = pinned_.find(id);
      bool in_use = pinned != pinned_.end() && !NotInUse(*pinned->second);
      for (const auto& [txn_id, held] : transactions_) {
        in_use = in_use || (held.entry->owner.session == id && !NotInUse(*held.entry));
      }
      if (in_use) {
        last = Clock::now();
        continue;
      }
      idle_sessions.push_back(id);
    }
    for (auto it = statements_.begin(); it != statements_.end();) {
      if (it->second.last_used >= cutoff) { ++it; continue; }
      statements.push_back(std::move(it->second.entry));
      it = statements_.erase(it);
    }
    for (auto it = transactions_.begin(); it != transactions_.end();) {
      if (it->second.last_used >= cutoff) { ++it; continue; }
      if (!NotInUse(*it->second.entry)) {
        it->second.last_used = Clock::now();  // idle counts from when the call ends
        ++it;
        continue;
      }
      transactions.push_back(std::move(it->second.entry));
      it = transactions_.erase(it);
    }
  }
  statements.clear();
  for (auto& txn : transactions) {
    std::lock_guard<std::mutex> lock(txn->mutex);
    txn->connection->Rollback();
  }
  for (const auto& session : idle_sessions) CloseSession(session);
}

}  // namespace arrowport::flight::sql
