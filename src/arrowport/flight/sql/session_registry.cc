// SessionRegistry: the sessions by cookie, the handles of what they hold, and the caps.
#include "arrowport/flight/sql/session_registry.h"

#include <set>
#include <vector>

#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/common/random_id.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/session_store.h"
#include "arrowport/query/prepared_query.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

namespace {

// Why a handle may be unknown once the sweep freed what clients held for a reopen.
constexpr const char* kLostInReopen =
    "lost when DuckDB invalidated the database and the server reopened it, ";

// The cookie-less holder's key of `owner`: its user and gRPC connection.
std::string SessionlessKey(const Owner& owner) { return owner.user + '\n' + owner.connection; }
}  // namespace

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
    auto [it, added] = sessions_.try_emplace(caller.session, caller.user);
    if (!added && it->second.user() != caller.user) {
      return PermissionDenied("this Flight SQL session belongs to another user: drop its "
                              "cookie (a new connection gets a session of its own)");
    }
    it->second.NoteUse(Clock::now());
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
  std::set<std::string> running;
  for (const auto& [id, call] : running_) running.insert(call.owner.session);
  std::string oldest;
  Clock::time_point oldest_use = Clock::time_point::max();
  for (const auto& [id, session] : sessions_) {
    if (id == except || !session.HoldsNothing() || running.count(id) > 0 ||
        session.last_used() >= oldest_use) {
      continue;
    }
    oldest = id;
    oldest_use = session.last_used();
  }
  return oldest;
}

void SessionRegistry::TouchSession(const std::string& session, const std::string& user) {
  if (session.empty()) return;
  sessions_.try_emplace(session, user).first->second.NoteUse(Clock::now());
}

SessionRegistry::Where SessionRegistry::WhereOf(const Owner& owner) {
  if (owner.session.empty()) return Where{SessionlessKey(owner), true};
  return Where{owner.session, false};
}

ClientSession* SessionRegistry::HolderOf(const Owner& owner, bool create) {
  if (!owner.session.empty()) {
    if (create) TouchSession(owner.session, owner.user);
    auto found = sessions_.find(owner.session);
    return found == sessions_.end() ? nullptr : &found->second;
  }
  const std::string key = SessionlessKey(owner);
  if (create) return &sessionless_.try_emplace(key, owner.user).first->second;
  auto found = sessionless_.find(key);
  return found == sessionless_.end() ? nullptr : &found->second;
}

ClientSession* SessionRegistry::Holder(const Where& where) {
  auto& holders = where.sessionless ? sessionless_ : sessions_;
  auto found = holders.find(where.key);
  return found == holders.end() ? nullptr : &found->second;
}

void SessionRegistry::DropIfEmpty(const Where& where) {
  if (!where.sessionless) return;
  auto found = sessionless_.find(where.key);
  if (found != sessionless_.end() && found->second.HoldsNothing()) sessionless_.erase(found);
}

namespace {
// A holder's map of `T` entries.
template <typename T>
ClientSession::HeldMap<T>& EntriesOf(ClientSession* session);
template <>
ClientSession::HeldMap<StatementEntry>& EntriesOf(ClientSession* session) {
  return session->statements();
}
template <>
ClientSession::HeldMap<TransactionEntry>& EntriesOf(ClientSession* session) {
  return session->transactions();
}
}  // namespace

template <typename T>
arrow::Result<std::string> SessionRegistry::AddHeld(std::map<std::string, Where>* index,
                                                    const std::shared_ptr<T>& entry,
                                                    int64_t per_session, int64_t total,
                                                    const char* what) {
  if (static_cast<int64_t>(index->size()) >= total) {
    return TooLarge("the server holds its limit of ", total, " open ", what,
                    " (all sessions); close some, or wait for idle ones to expire after ",
                    idle_timeout_.count(), " s");
  }
  // No one user takes what every other needs: a quarter of the server's limit each.
  const std::string& user = entry->owner.user;
  int64_t users = 0;
  for (const auto& [id, where] : *index) {
    ClientSession* holder = Holder(where);
    if (holder == nullptr) continue;
    auto& entries = EntriesOf<T>(holder);
    auto it = entries.find(id);
    users += it != entries.end() && it->second.entry->owner.user == user ? 1 : 0;
  }
  const int64_t share = UserShare(total);
  if (users >= share) {
    return TooLarge("user '", user, "' holds its limit of ", share, " open ", what,
                    " (a quarter of the server's ", total, " per user when users sign in, "
                    "so that no one user takes what every other needs); close some, or wait "
                    "for idle ones to expire after ", idle_timeout_.count(), " s");
  }
  const std::string& session = entry->owner.session;
  if (!session.empty()) {
    auto found = sessions_.find(session);
    const int64_t held = found == sessions_.end()
                             ? 0 : static_cast<int64_t>(EntriesOf<T>(&found->second).size());
    if (held >= per_session) {
      return TooLarge("this session holds its limit of ", per_session, " open ", what,
                      "; close some before opening more");
    }
  }
  std::string id = RandomId();
  ClientSession* holder = HolderOf(entry->owner, /*create=*/true);
  EntriesOf<T>(holder)[id] = {entry, Clock::now()};
  (*index)[id] = WhereOf(entry->owner);
  return id;
}

template <typename T>
ClientSession::Held<T>* SessionRegistry::FindHeld(std::map<std::string, Where>* index,
                                                  const std::string& id, const Caller& caller,
                                                  ClientSession** holder_out) {
  auto where = index->find(id);
  if (where == index->end()) return nullptr;
  ClientSession* holder = Holder(where->second);
  if (holder == nullptr) return nullptr;
  auto& entries = EntriesOf<T>(holder);
  auto it = entries.find(id);
  if (it == entries.end() || !it->second.entry->owner.Allows(caller)) return nullptr;
  it->second.last_used = Clock::now();
  TouchSession(caller.session, caller.user);
  // The session that owns it is in use too, even when the caller (cookie-less) does not
  // present it: otherwise it would idle out and take the entry with it.
  TouchSession(it->second.entry->owner.session, it->second.entry->owner.user);
  if (holder_out != nullptr) *holder_out = holder;
  return &it->second;
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
  auto* held = FindHeld<StatementEntry>(&statements_, handle, caller);
  if (held == nullptr) return UnknownStatement();
  const auto& entry = held->entry;
  if (!entry->transaction_id.empty()) {
    // Prepared inside a transaction, it runs on that transaction's connection: once the
    // transaction ended there is none, and running it there would commit on its own.
    auto* txn = OpenTransaction(entry->transaction_id);
    if (txn == nullptr || txn->entry != entry->shared) {
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
    auto where = statements_.find(handle);
    ClientSession* holder = where == statements_.end() ? nullptr : Holder(where->second);
    auto it = holder ? holder->statements().find(handle)
                     : ClientSession::HeldMap<StatementEntry>::iterator{};
    if (holder == nullptr || it == holder->statements().end() ||
        !it->second.entry->owner.Allows(caller)) {
      return arrow::Status::KeyError("unknown prepared statement handle (already closed?)");
    }
    entry = std::move(it->second.entry);
    holder->statements().erase(it);
    const Where was = where->second;
    statements_.erase(where);
    DropIfEmpty(was);
  }
  return arrow::Status::OK();  // entry is freed outside the lock
}

arrow::Result<std::shared_ptr<void>> SessionRegistry::ChargeHeldBytes(int64_t bytes,
                                                                      const std::string& user) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t share = UserShare(limits_.held_bytes_total);
  const char* per_user = "(a quarter of flight.sql_max_held_bytes per user when users sign in, ";
  const int64_t users = held_bytes_by_user_.count(user) ? held_bytes_by_user_[user] : 0;
  if (bytes > share - users) {
    return TooLarge("user '", user, "' would hold more than ", share >> 20,
                    " MiB in open prepared statements ", per_user, "so that no one user "
                    "takes what every other needs); close statements, bind fewer rows or "
                    "send shorter SQL (", users >> 20, " MiB held, ", bytes >> 20,
                    " MiB asked)");
  }
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
  held_bytes_by_user_[user] += bytes;
  // The token's deleter gives the bytes back; the registry outlives every statement.
  auto held = std::make_shared<MemoryBudget::Reservation>(std::move(server));
  return std::shared_ptr<void>(nullptr, [this, bytes, held, user](void*) {
    held->Release();
    std::lock_guard<std::mutex> lock(mutex_);
    held_bytes_ -= bytes;
    auto mine = held_bytes_by_user_.find(user);
    if (mine != held_bytes_by_user_.end() && (mine->second -= bytes) <= 0) {
      held_bytes_by_user_.erase(mine);
    }
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

size_t SessionRegistry::open_statements() {
  std::lock_guard<std::mutex> lock(mutex_);
  return statements_.size();
}

size_t SessionRegistry::open_transactions() {
  std::lock_guard<std::mutex> lock(mutex_);
  return transactions_.size();
}

}  // namespace arrowport::flight::sql
