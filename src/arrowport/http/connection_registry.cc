#include "arrowport/http/connection_registry.h"

#include <sys/socket.h>

namespace arrowport::http {

uint64_t ConnectionRegistry::Admit(int fd) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_ || entries_.size() >= max_) return 0;
  const uint64_t id = next_id_++;
  entries_.emplace(id, Entry{fd, Phase::kIdle});
  return id;
}

void ConnectionRegistry::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.erase(id);
  changed_.notify_all();
}

bool ConnectionRegistry::SetPhase(uint64_t id, Phase phase) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.phase = phase;
  return !stopping_;
}

void ConnectionRegistry::BeginStop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  for (auto& [id, entry] : entries_) {
    if (entry.phase == Phase::kIdle) ::shutdown(entry.fd, SHUT_RDWR);
  }
}

bool ConnectionRegistry::WaitUntilEmpty(std::chrono::system_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_until(lock, deadline, [this] { return entries_.empty(); });
}

void ConnectionRegistry::ShutdownAll() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [id, entry] : entries_) ::shutdown(entry.fd, SHUT_RDWR);
}

bool ConnectionRegistry::stopping() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

size_t ConnectionRegistry::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

}  // namespace arrowport::http
