#include "arrowport/flight/sql/session_registry.h"

#include <set>
#include <vector>

#include "arrow/table.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/common/random_id.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/session_store.h"
#include "arrowport/query/prepared_query.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

using Clock = std::chrono::steady_clock;

namespace {
// Why a handle may be unknown once the sweep freed what clients held for a reopen.
constexpr const char* kLostInReopen =
    "lost when DuckDB invalidated the database and the server reopened it, ";
}  // namespace

std::shared_ptr<query::SessionConnection> StatementEntry::connection() const {
  return statement ? statement->connection() : nullptr;
}

SessionRegistry::SessionRegistry(std::shared_ptr<SessionStore> cookies,
                                 std::chrono::seconds idle_timeout, RegistryLimits limits,
                                 HeldTransactions pressure)
    : cookies_(std::move(cookies)),
      idle_timeout_(idle_timeout),
      limits_(limits),
      pressure_(std::move(pressure)) {
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

arrow::Status SessionRegistry::Touch(const Caller& caller) {
  if (caller.session.empty()) return arrow::Status::OK();
  std::string evicted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, added] =
        sessions_.try_emplace(caller.session, Session{caller.user, Clock::now()});
    if (!added && it->second.user != caller.user) {
      return PermissionDenied("this Flight SQL session belongs to another user: drop its "
                              "cookie (a new connection gets a session of its own)");
    }
    it->second.last_used = Clock::now();
    if (added && static_cast<int64_t>(sessions_.size()) > limits_.sessions_total) {
      evicted = LeastRecentlyUsedEmptySession(caller.session);
      if (evicted.empty()) {
        sessions_.erase(it);
        return TooLarge("the server holds its limit of ", limits_.sessions_total,
                        " Flight SQL sessions, each with statements or transactions open; "
                        "close some, or wait for idle ones to expire");
      }
      sessions_.erase(evicted);
    }
  }
  // A session holding nothing (a client that sends no cookie back makes one per call):
  // its cookie is forgotten, which is all there is to close.
  if (!evicted.empty()) cookies_->Close(evicted);
  return arrow::Status::OK();
}

std::string SessionRegistry::LeastRecentlyUsedEmptySession(const std::string& except) {
  std::set<std::string> holding;
  for (const auto& [id, held] : statements_) holding.insert(held.entry->owner.session);
  for (const auto& [id, held] : transactions_) holding.insert(held.entry->owner.session);
  for (const auto& [session, entry] : pinned_) holding.insert(session);
  for (const auto& [id, call] : running_) holding.insert(call.owner.session);
  std::string oldest;
  Clock::time_point oldest_use = Clock::time_point::max();
  for (const auto& [id, session] : sessions_) {
    if (id == except || holding.count(id) > 0 || session.last_used >= oldest_use) continue;
    oldest = id;
    oldest_use = session.last_used;
  }
  return oldest;
}

void SessionRegistry::TouchSession(const std::string& session, const std::string& user) {
  if (session.empty()) return;
  auto [it, added] = sessions_.try_emplace(session, Session{user, Clock::now()});
  it->second.last_used = Clock::now();
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
  TouchSession(session, entry->owner.user);
  (*map)[id] = {entry, Clock::now()};
  return id;
}

template <typename T>
typename SessionRegistry::HeldMap<T>::iterator SessionRegistry::FindHeld(
    HeldMap<T>* map, const std::string& id, const Caller& caller) {
  auto it = map->find(id);
  if (it == map->end() || !it->second.entry->owner.Allows(caller)) return map->end();
  it->second.last_used = Clock::now();
  TouchSession(caller.session, caller.user);
  // The session that owns it is in use too, even when the caller (cookie-less) does not
  // present it: otherwise it would idle out and take the entry with it.
  TouchSession(it->second.entry->owner.session, it->second.entry->owner.user);
  return it;
}

template <typename T>
std::vector<std::shared_ptr<T>> SessionRegistry::TakeOwned(HeldMap<T>* map,
                                                           const CloseScope& scope,
                                                           std::vector<std::string>* ids) {
  std::vector<std::shared_ptr<T>> taken;
  for (auto it = map->begin(); it != map->end();) {
    if (!scope.Covers(it->second.entry->owner)) {
      ++it;
      continue;
    }
    if (ids != nullptr) ids->push_back(it->first);
    taken.push_back(std::move(it->second.entry));
    it = map->erase(it);
  }
  return taken;
}

const char* SessionRegistry::LostInReopen() const {
  const bool recent =
      freed_for_reopen_at_ && Clock::now() - *freed_for_reopen_at_ < idle_timeout_;
  return recent ? kLostInReopen : "";
}

arrow::Status SessionRegistry::UnknownStatement() const {
  return arrow::Status::KeyError(
      "unknown prepared statement handle (closed, expired after ", idle_timeout_.count(),
      " s idle, ", LostInReopen(),
      "or owned by another session): prepare the statement again");
}

arrow::Status SessionRegistry::UnknownTransaction(const std::string& id) const {
  auto ended = id.empty() ? ended_early_.end() : ended_early_.find(id);
  if (ended != ended_early_.end() && ended->second.why == EndedEarly::kByClose) {
    return arrow::Status::KeyError(
        "the transaction was rolled back by a CloseSession without a session cookie sent "
        "on the gRPC connection it was begun on (what an ADBC connection's close sends); "
        "nothing of it was committed. Clients that share one gRPC connection (grpcio's "
        "channels to one address do) should send cookies");
  }
  if (ended != ended_early_.end()) {
    return arrow::Status::KeyError(
        "the transaction was rolled back: it was unused for ", pressure_.idle_timeout.count(),
        ended->second.why == EndedEarly::kForWriter
            ? " s while another writer waited for a table it had written (a change of a "
              "table's shape waits for every transaction writing it"
            : " s while the database's checkpoint waited for open transactions to end (the "
              "write-ahead log grows until they do",
        "; flight.sql_held_transaction_timeout_s); nothing of it was committed");
  }
  return arrow::Status::KeyError("unknown transaction id (ended, rolled back after ",
                                 idle_timeout_.count(), " s idle, ",
                                 LostInReopen(),
                                 "or owned by another session)");
}

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
  if (it == statements_.end()) return UnknownStatement();
  const auto& entry = it->second.entry;
  if (!entry->transaction_id.empty()) {
    // Prepared inside a transaction, it runs on that transaction's connection: once the
    // transaction ended there is none, and running it there would commit on its own.
    auto txn = transactions_.find(entry->transaction_id);
    if (txn == transactions_.end() || txn->second.entry != entry->shared) {
      return InUse("the prepared statement belonged to a transaction that has ended "
                   "(committed, rolled back or expired); prepare it again in the current "
                   "transaction");
    }
  }
  return entry;
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
  if (it == transactions_.end()) return UnknownTransaction(id);
  return it->second.entry;
}

arrow::Status SessionRegistry::StillOpen(const std::string& id,
                                         const std::shared_ptr<TransactionEntry>& entry) {
  if (id.empty()) return arrow::Status::OK();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = transactions_.find(id);
  if (it != transactions_.end() && it->second.entry == entry) return arrow::Status::OK();
  // Like an unknown transaction (NOT_FOUND): no retry can find it again.
  return arrow::Status::KeyError("the transaction ended (committed, rolled back or expired) "
                                 "while this call waited for it; nothing was run");
}

arrow::Status SessionRegistry::TakeTransaction(const std::string& id, const Caller& caller,
                                               const std::shared_ptr<TransactionEntry>& expected) {
  std::shared_ptr<TransactionEntry> entry;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = transactions_.find(id);
    if (it == transactions_.end() || it->second.entry != expected ||
        !it->second.entry->owner.Allows(caller)) {
      return UnknownTransaction(id);
    }
    entry = std::move(it->second.entry);
    transactions_.erase(it);
  }
  return arrow::Status::OK();
}

bool SessionRegistry::ForgetTransaction(const std::shared_ptr<TransactionEntry>& entry) {
  std::shared_ptr<TransactionEntry> taken;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = transactions_.begin(); it != transactions_.end(); ++it) {
    if (it->second.entry != entry) continue;
    taken = std::move(it->second.entry);
    transactions_.erase(it);
    return true;
  }
  return false;
}

arrow::Result<std::shared_ptr<void>> SessionRegistry::ChargeHeldBytes(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (bytes > limits_.held_bytes_total - held_bytes_) {
    return TooLarge("open prepared statements would hold more than ",
                    limits_.held_bytes_total >> 20, " MiB (flight.sql_max_held_bytes: their "
                    "bound parameters, and their plans: ", query::kPreparedBytesPerSqlByte,
                    " bytes per byte of SQL text, or what the plan holds when more, as for "
                    "a table of many columns); close statements, bind fewer rows or send "
                    "shorter SQL (", held_bytes_ >> 20, " MiB held, ", bytes >> 20,
                    " MiB asked)");
  }
  MemoryBudget::Reservation server;
  if (limits_.server_memory) {
    ARROW_ASSIGN_OR_RAISE(server, limits_.server_memory->TryReserve(
                                      bytes, "a prepared statement's plan and parameters"));
  }
  held_bytes_ += bytes;
  // The token's deleter gives the bytes back; the registry outlives every statement.
  auto held = std::make_shared<MemoryBudget::Reservation>(std::move(server));
  return std::shared_ptr<void>(nullptr, [this, bytes, held](void*) {
    held->Release();
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

std::vector<std::shared_ptr<query::SessionConnection>> SessionRegistry::ConnectionsOf(
    const CloseScope& scope) {
  std::vector<std::shared_ptr<query::SessionConnection>> out;
  auto add = [&out](std::shared_ptr<query::SessionConnection> connection) {
    // A closed connection has nothing to roll back, and no lease to give.
    if (connection == nullptr || connection->closed()) return;
    for (const auto& seen : out) {
      if (seen == connection) return;
    }
    out.push_back(std::move(connection));
  };
  // (A cookie-less scope has no pin: a pin needs the session's cookie.)
  if (auto pinned = pinned_.find(scope.session); pinned != pinned_.end()) {
    add(pinned->second->connection);
  }
  for (const auto& [id, held] : transactions_) {
    if (scope.Covers(held.entry->owner)) add(held.entry->connection);
  }
  for (const auto& [id, held] : statements_) {
    if (scope.Covers(held.entry->owner)) add(held.entry->connection());
  }
  return out;
}

SessionRegistry::SessionContents SessionRegistry::TakeSession(const CloseScope& scope) {
  SessionContents taken;
  taken.statements = TakeOwned(&statements_, scope);
  if (scope.session.empty()) {
    // A cookie-less close: its client's next call naming one of them is told why.
    std::vector<std::string> ids;
    taken.transactions = TakeOwned(&transactions_, scope, &ids);
    for (const auto& id : ids) NoteEarlyEnd(id, Clock::now(), EndedEarly::kByClose);
    return taken;
  }
  taken.transactions = TakeOwned(&transactions_, scope);
  auto pinned = pinned_.find(scope.session);
  if (pinned != pinned_.end()) {
    bool listed = false;
    for (const auto& txn : taken.transactions) listed |= txn == pinned->second;
    if (!listed) taken.transactions.push_back(pinned->second);  // its temporary tables go too
    pinned_.erase(pinned);
  }
  sessions_.erase(scope.session);
  return taken;
}

}  // namespace arrowport::flight::sql
