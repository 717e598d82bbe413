#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <vector>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport {
class CallCancellation;
}

namespace arrowport::storage {
class Connection;
class PreparedStatement;
}  // namespace arrowport::storage

namespace arrow::flight::sql {
class FlightSession;
}

namespace arrowport::flight::sql {

class SessionStore;

/// A random 128-bit hex id (statement handles, transaction ids, session ids).
std::string RandomId();

/// A prepared statement a client holds open.
struct StatementEntry {
  std::string session;  ///< owning session id; "" = the client sends no session cookie
  std::string transaction_id;
  std::shared_ptr<storage::PreparedStatement> statement;
  std::mutex mutex;  ///< serialises binding and execution
  std::shared_ptr<arrow::RecordBatch> parameters;  ///< bound by DoPut; guarded by mutex
};

/// An open transaction: its statements run on its own connection.
struct TransactionEntry {
  std::string session;
  std::shared_ptr<storage::Connection> connection;
  std::mutex mutex;  ///< serialises statements on the connection
};

/// \brief What Flight SQL clients hold open on the server: prepared statements and
/// transactions (and, while they stream, the DoGets CancelFlightInfo may stop). Each belongs to the session that made it
/// and is freed when that session closes (CloseSession), when it sits unused longer than
/// the idle timeout (an open transaction is then rolled back), or at Close().
///
/// An entry made by a session is refused to calls of another session; calls without a
/// session cookie (ADBC's default) may use any entry whose handle they know: the handle,
/// 128 random bits, is the capability. Thread-safe.
class SessionRegistry {
 public:
  SessionRegistry(std::shared_ptr<SessionStore> cookies, std::chrono::seconds idle_timeout);
  ~SessionRegistry();

  /// The id of a session of the cookie store ("" when unknown or closed).
  std::string SessionId(const arrow::flight::sql::FlightSession* session);

  /// Notes that `session` is in use: a session (and its cookie) unused for the idle
  /// timeout is closed, even one that never held a statement.
  void Touch(const std::string& session);

  std::string AddStatement(std::shared_ptr<StatementEntry> entry);
  /// NotFound-style KeyError for an unknown, closed or expired handle.
  arrow::Result<std::shared_ptr<StatementEntry>> FindStatement(const std::string& handle,
                                                               const std::string& session);
  arrow::Status CloseStatement(const std::string& handle, const std::string& session);

  std::string AddTransaction(std::shared_ptr<TransactionEntry> entry);
  arrow::Result<std::shared_ptr<TransactionEntry>> FindTransaction(const std::string& id,
                                                                   const std::string& session);
  /// Removes the transaction (the caller commits or rolls it back).
  arrow::Result<std::shared_ptr<TransactionEntry>> TakeTransaction(const std::string& id,
                                                                   const std::string& session);

  /// \brief Records that a DoGet of `ticket` runs under `cancellation` until the returned
  /// token is destroyed, so CancelFlightInfo of a FlightInfo carrying that ticket can stop it.
  std::shared_ptr<void> TrackRunning(const std::string& ticket,
                                     std::shared_ptr<CallCancellation> cancellation);
  /// Cancels every running DoGet of `ticket`; returns how many there were.
  int CancelRunning(const std::string& ticket, const arrow::Status& reason);

  /// Frees everything `session` owns (its transactions roll back) and forgets its cookie.
  void CloseSession(const std::string& session);
  /// Frees everything (server shutdown): open transactions roll back.
  void Close();

  size_t open_statements();
  size_t open_transactions();

 private:
  template <typename T>
  struct Held {
    std::shared_ptr<T> entry;
    std::chrono::steady_clock::time_point last_used;
  };
  template <typename T>
  using HeldMap = std::map<std::string, Held<T>>;

  void SweepLoop();
  void Sweep();
  void TouchSession(const std::string& session);
  // Statements and transactions are kept alike; these serve both (call under mutex_).
  template <typename T>
  std::string AddHeld(HeldMap<T>* map, std::shared_ptr<T> entry);
  /// The entry under `id` when `session` may use it, its use noted; else map->end().
  template <typename T>
  typename HeldMap<T>::iterator FindHeld(HeldMap<T>* map, const std::string& id,
                                         const std::string& session);
  /// Moves every entry `session` owns out of `map`.
  template <typename T>
  std::vector<std::shared_ptr<T>> TakeOwned(HeldMap<T>* map, const std::string& session);

  std::shared_ptr<SessionStore> cookies_;
  const std::chrono::seconds idle_timeout_;
  std::mutex mutex_;  // guards everything below
  HeldMap<StatementEntry> statements_;
  HeldMap<TransactionEntry> transactions_;
  std::map<std::string, std::chrono::steady_clock::time_point> sessions_;  // last use
  uint64_t next_running_ = 0;
  std::map<uint64_t, std::pair<std::string, std::shared_ptr<CallCancellation>>> running_;
  bool stopping_ = false;
  std::condition_variable stop_changed_;
  std::thread sweeper_;
};

}  // namespace arrowport::flight::sql
