#include "arrowport/flight/sql/session_store.h"

#include <mutex>
#include <random>
#include <shared_mutex>

#include "arrowport/flight/sql/session_registry.h"

namespace arrowport::flight::sql {

std::shared_ptr<SessionStore> SessionStore::Make() {
  return std::shared_ptr<SessionStore>(new SessionStore([] { return RandomId(); }));
}

std::optional<std::string> SessionStore::IdOf(
    const arrow::flight::sql::FlightSession* session) {
  std::shared_lock<std::shared_mutex> lock(session_store_lock_);
  for (const auto& [id, stored] : session_store_) {
    if (stored.get() == session) return id;
  }
  return std::nullopt;
}

void SessionStore::Close(const std::string& id) { (void)CloseSession(id); }

}  // namespace arrowport::flight::sql
