#include "arrowport/ingest/table_locks.h"

#include "arrowport/ingest/column_planner.h"

namespace arrowport::ingest {

std::shared_ptr<std::mutex> TableLocks::For(const std::string& table) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (locks_.size() >= kMaxLocks) {
    // Only locks nobody holds or waits for can go (the map holds the one reference).
    for (auto it = locks_.begin(); it != locks_.end();) {
      it = it->second.use_count() == 1 ? locks_.erase(it) : std::next(it);
    }
  }
  auto& entry = locks_[ColumnKey(table)];
  if (!entry) entry = std::make_shared<std::mutex>();
  return entry;
}

}  // namespace arrowport::ingest
