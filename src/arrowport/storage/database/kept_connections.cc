#include "arrowport/storage/database/kept_connections.h"

#include <utility>

#include "arrowport/storage/memory/allocation_guard.h"

namespace arrowport::storage {

std::vector<std::unique_ptr<Connection::Impl>> KeptConnections::Serve(const void* instance) {
  std::vector<std::unique_ptr<Connection::Impl>> let_go;
  std::lock_guard<std::mutex> lock(mutex_);
  instance_ = instance;
  let_go.swap(kept_);
  return let_go;
}

std::unique_ptr<Connection::Impl> KeptConnections::Take() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (kept_.empty()) return nullptr;
  auto impl = std::move(kept_.back());
  kept_.pop_back();
  return impl;
}

void KeptConnections::Keep(std::unique_ptr<Connection::Impl>* impl) {
  Connection::Impl& connection = **impl;
  if (!connection.reusable) return;
  connection.reusable = false;
  // Asked through DuckDB's internals (direct_append): whether a transaction is open.
  if (!connection.direct_append || !connection.streams.empty() ||
      !connection.on_commit.empty() || !connection.conn.get()) {
    return;
  }
  // The read's snapshot ends as the connection's end would have ended it: rolled back
  // (it wrote nothing; never refused memory midway), then the holds it took let go.
  if (InTransaction(connection.conn.get())) {
    AllocationGuard::CommitScope ending;
    if (!RunTransactionStep(connection.conn.get(), TransactionStep::kRollback).ok()) return;
  }
  // Nothing open, and the next statement commits by itself (a connection left outside
  // auto-commit would hold the next read's snapshot open).
  if (InTransaction(connection.conn.get()) || ExplicitTransactionOpen(connection.conn.get())) {
    return;
  }
  connection.read_snapshot = false;
  connection.transaction_holds.clear();
  connection.lender.reset();  // set again when lent: no cycle through the kept ones
  std::lock_guard<std::mutex> lock(mutex_);
  if (connection.instance.get() != instance_ || instance_ == nullptr ||
      kept_.size() >= kMaxKept) {
    return;
  }
  kept_.push_back(std::move(*impl));
}

uint64_t KeptConnections::plans_made() const {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t made = 0;
  for (const auto& kept : kept_) made += kept->table_plans.made();
  return made;
}

size_t KeptConnections::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return kept_.size();
}

}  // namespace arrowport::storage
