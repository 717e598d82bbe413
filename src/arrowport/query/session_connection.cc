#include "arrowport/query/session_connection.h"

#include "arrowport/common/call_cancellation.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::query {

SessionLease::SessionLease() = default;
SessionLease::SessionLease(SessionLease&& other) noexcept = default;
SessionLease& SessionLease::operator=(SessionLease&& other) noexcept = default;
SessionLease::~SessionLease() = default;

SessionLease::SessionLease(std::shared_ptr<SessionConnection> connection,
                           std::unique_ptr<storage::ConnectionLease> lease)
    : connection_(std::move(connection)), lease_(std::move(lease)) {}

SessionLease::operator bool() const { return lease_ != nullptr && *lease_; }

void SessionLease::Release() {
  if (lease_) lease_->Release();
}

SessionConnection::SessionConnection(OpenKey, std::shared_ptr<storage::SharedConnection> shared)
    : shared_(std::move(shared)) {}

SessionConnection::~SessionConnection() = default;

arrow::Result<SessionLease> SessionConnection::Acquire(
    std::string use, Clock::time_point deadline,
    const std::shared_ptr<CallCancellation>& cancellation) {
  ARROW_ASSIGN_OR_RAISE(auto lease,
                        shared_->Acquire(std::move(use), deadline, cancellation));
  return SessionLease(shared_from_this(),
                      std::make_unique<storage::ConnectionLease>(std::move(lease)));
}

std::optional<SessionLease> SessionConnection::TryAcquire(std::string use) {
  auto lease = shared_->TryAcquire(std::move(use));
  if (!lease) return std::nullopt;
  return SessionLease(shared_from_this(),
                      std::make_unique<storage::ConnectionLease>(std::move(*lease)));
}

arrow::Result<SessionLease> SessionConnection::AcquireStopping(
    std::string use, Clock::time_point deadline,
    const std::shared_ptr<CallCancellation>& cancellation, const arrow::Status& reason,
    bool any_call) {
  using Stopping = storage::SharedConnection::Stopping;
  ARROW_ASSIGN_OR_RAISE(
      auto lease, shared_->AcquireStopping(std::move(use), deadline, cancellation, reason,
                                           any_call ? Stopping::kAnyCall
                                                    : Stopping::kResultReader));
  return SessionLease(shared_from_this(),
                      std::make_unique<storage::ConnectionLease>(std::move(lease)));
}

bool SessionConnection::HoldsUpOthers() const { return shared_->HoldsUpOthers(); }
bool SessionConnection::in_use() const { return shared_->in_use(); }
bool SessionConnection::closed() const { return shared_->closed(); }
std::optional<SessionConnection::Clock::time_point> SessionConnection::IdleSince() const {
  return shared_->IdleSince();
}

void SessionConnection::Discard(SessionLease lease) {
  shared_->Discard(std::move(*lease.lease_));
}

}  // namespace arrowport::query
