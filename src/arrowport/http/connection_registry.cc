#include "arrowport/http/connection_registry.h"

#include <sys/socket.h>

namespace arrowport::http {

uint64_t ConnectionRegistry::Admit(int fd, const std::string& address, Refusal* refusal) {
  std::lock_guard<std::mutex> lock(mutex_);
  Refusal why = Refusal::kNone;
  const bool counted = max_per_address_ > 0 && !address.empty();
  if (stopping_ || entries_.size() >= max_) {
    why = Refusal::kBusy;
  } else if (counted && per_address_.count(address) != 0 &&
             per_address_[address] >= max_per_address_) {
    why = Refusal::kAddress;
    ++refused_per_address_;
  }
  if (refusal != nullptr) *refusal = why;
  if (why != Refusal::kNone) return 0;
  const uint64_t id = next_id_++;
  entries_.emplace(id, Entry{fd, Phase::kIdle, counted ? address : std::string()});
  if (counted) ++per_address_[address];
  return id;
}

void ConnectionRegistry::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  if (!it->second.address.empty()) {
    auto count = per_address_.find(it->second.address);
    if (count != per_address_.end() && --count->second == 0) per_address_.erase(count);
  }
  entries_.erase(it);
  changed_.notify_all();
}

uint64_t ConnectionRegistry::refused_per_address() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return refused_per_address_;
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
