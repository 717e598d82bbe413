#include "arrowport/storage/database/shared_connection.h"

#include <cstdio>
#include <utility>

#include "arrow/record_batch.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::storage {

// ---------------------------------------------------------------------------------------
// ConnectionLease

ConnectionLease::ConnectionLease(std::shared_ptr<SharedConnection> shared)
    : shared_(std::move(shared)) {}

ConnectionLease::ConnectionLease(ConnectionLease&& other) noexcept
    : shared_(std::move(other.shared_)), discard_(std::exchange(other.discard_, false)) {}

ConnectionLease& ConnectionLease::operator=(ConnectionLease&& other) noexcept {
  if (this != &other) {
    Release();
    shared_ = std::move(other.shared_);
    discard_ = std::exchange(other.discard_, false);
  }
  return *this;
}

ConnectionLease::~ConnectionLease() { Release(); }

ConnectionLease ConnectionLease::Own(std::unique_ptr<Connection> connection) {
  auto shared = SharedConnection::Make(std::move(connection));
  return std::move(*shared->TryAcquire("its owner's request"));
}

Connection& ConnectionLease::connection() const { return *shared_->connection_; }

arrow::Status ConnectionLease::Begin() { return connection().Begin(); }
arrow::Status ConnectionLease::Commit() {
  auto st = connection().Commit();
  // Neither committed nor rolled back (DuckDB refused both): no later call may find it.
  if (!st.ok() && in_transaction()) discard_ = true;
  return st;
}
arrow::Status ConnectionLease::Rollback() { return connection().Rollback(); }

arrow::Status ConnectionLease::RollbackOrDiscard() {
  auto st = Rollback();
  if (!st.ok()) discard_ = true;
  return st;
}
void ConnectionLease::AbortTransaction() { connection().AbortTransaction(); }
bool ConnectionLease::in_transaction() const { return connection().in_transaction(); }

void ConnectionLease::MarkReadingResult() {
  if (!shared_) return;
  std::lock_guard<std::mutex> lock(shared_->mutex_);
  shared_->held_by_result_ = true;
}

void ConnectionLease::Release() {
  if (shared_) {
    if (discard_) {
      shared_->ReleaseDiscarding();
    } else {
      shared_->Release();
    }
    shared_.reset();
    discard_ = false;
  }
}

// ---------------------------------------------------------------------------------------
// SharedConnection

SharedConnection::SharedConnection(std::unique_ptr<Connection> connection)
    : changed_(Clock::now()), connection_(std::move(connection)) {}

SharedConnection::~SharedConnection() = default;

std::shared_ptr<SharedConnection> SharedConnection::Make(
    std::unique_ptr<Connection> connection) {
  return std::shared_ptr<SharedConnection>(new SharedConnection(std::move(connection)));
}

namespace {

std::string SecondsText(SharedConnection::Clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", seconds);
  return text;
}

}  // namespace

arrow::Result<ConnectionLease> SharedConnection::Acquire(
    std::string use, Clock::time_point deadline,
    const std::shared_ptr<CallCancellation>& cancellation) {
  std::unique_lock<std::mutex> lock(mutex_);
  // Waits in short slices: a cancelled call stops waiting within one of them.
  constexpr auto kSlice = std::chrono::milliseconds(50);
  while (leased_ && connection_) {
    if (cancellation && cancellation->cancelled()) return cancellation->reason();
    const auto now = Clock::now();
    if (now >= deadline) {
      return InUse("the connection is busy: ", use_, " (for ", SecondsText(now - changed_),
                   " s); it runs one call at a time. Read that result to its end or close "
                   "it, then retry");
    }
    released_.wait_for(lock, std::min<Clock::duration>(kSlice, deadline - now));
  }
  if (!connection_) {
    return arrow::Status::IOError(
        "the connection was closed because DuckDB would neither commit nor roll back its "
        "transaction (closing it rolled the transaction back); start a new transaction");
  }
  leased_ = true;
  use_ = std::move(use);
  holder_ = cancellation;
  held_by_result_ = false;
  changed_ = Clock::now();
  return ConnectionLease(shared_from_this());
}

std::optional<ConnectionLease> SharedConnection::TryAcquire(std::string use) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (leased_ || !connection_) return std::nullopt;
  leased_ = true;
  use_ = std::move(use);
  holder_.reset();
  held_by_result_ = false;
  changed_ = Clock::now();
  return ConnectionLease(shared_from_this());
}

arrow::Result<ConnectionLease> SharedConnection::AcquireStopping(
    std::string use, Clock::time_point deadline,
    const std::shared_ptr<CallCancellation>& cancellation, const arrow::Status& reason,
    Stopping which) {
  // How often a wait for a holder that may not be stopped looks again: it may become one
  // that may (a query's statement becomes a result reader with its first rows).
  constexpr auto kLookAgain = std::chrono::milliseconds(100);
  while (true) {
    std::shared_ptr<CallCancellation> holder;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (leased_ && (which == Stopping::kAnyCall || held_by_result_)) {
        holder = holder_.lock();
      }
    }
    if (holder != nullptr && holder != cancellation) {
      holder->Cancel(reason);
      auto leased = Acquire(use, std::min(deadline, Clock::now() + kStopGrace), cancellation);
      if (leased.ok() || !HasErrorKind(leased.status(), ErrorKind::kInUse)) return leased;
      holder->Cut();
      return Acquire(std::move(use), deadline, cancellation);
    }
    const auto until =
        which == Stopping::kAnyCall ? deadline : std::min(deadline, Clock::now() + kLookAgain);
    auto leased = Acquire(use, until, cancellation);
    if (leased.ok() || !HasErrorKind(leased.status(), ErrorKind::kInUse) ||
        Clock::now() >= deadline) {
      return leased;
    }
  }
}

bool SharedConnection::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return connection_ == nullptr;
}

bool SharedConnection::HoldsUpOthers() const {
  // Under mutex_: a connection being discarded is taken out under it before it closes.
  std::lock_guard<std::mutex> lock(mutex_);
  return connection_ != nullptr && connection_->HoldsUpOthers();
}

bool SharedConnection::in_use() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leased_;
}

std::optional<SharedConnection::Clock::time_point> SharedConnection::IdleSince() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (leased_) return std::nullopt;
  return changed_;
}

void SharedConnection::Discard(ConnectionLease lease) {
  lease.discard_ = true;
  lease.Release();
}

void SharedConnection::ReleaseDiscarding() {
  std::unique_ptr<Connection> closing;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing = std::move(connection_);
  }
  closing.reset();  // DuckDB rolls back what the connection had open
  Release();
}

void SharedConnection::Release() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    leased_ = false;
    use_.clear();
    holder_.reset();
    held_by_result_ = false;
    changed_ = Clock::now();
  }
  released_.notify_one();
}

// ---------------------------------------------------------------------------------------
// LeasedReader

namespace {

class LeasedReader : public arrow::RecordBatchReader {
 public:
  LeasedReader(std::shared_ptr<arrow::RecordBatchReader> result, ConnectionLease lease)
      : lease_(std::move(lease)), schema_(result->schema()), result_(std::move(result)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (!result_) return arrow::Status::OK();
    auto st = result_->ReadNext(out);
    if (!st.ok() || *out == nullptr) Finish();
    return st;
  }

  arrow::Status Close() override {
    Finish();
    return arrow::Status::OK();
  }

 private:
  // The result (and its DuckDB handles) goes before the connection is free again.
  void Finish() {
    result_.reset();
    lease_.Release();
  }

  ConnectionLease lease_;  // declared first: released after the result is destroyed
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::RecordBatchReader> result_;
};

}  // namespace

std::shared_ptr<arrow::RecordBatchReader> MakeLeasedReader(
    std::shared_ptr<arrow::RecordBatchReader> result, ConnectionLease lease) {
  lease.MarkReadingResult();
  return std::make_shared<LeasedReader>(std::move(result), std::move(lease));
}

}  // namespace arrowport::storage
