#include "arrowport/flight/query_progress.h"

#include <nlohmann/json.hpp>

namespace arrowport::flight {

bool QueryProgressRegistry::ValidKey(const std::string& key) {
  if (key.size() < 8 || key.size() > 64) return false;
  for (const char c : key) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!word) return false;
  }
  return true;
}

// Takes a call off the registry when it ends, unless a newer call took its key.
class QueryProgressRegistry::Listing {
 public:
  Listing(QueryProgressRegistry* registry, Key key,
          std::shared_ptr<CallProgress> progress)
      : registry_(registry), key_(std::move(key)), progress_(std::move(progress)) {}
  ~Listing() {
    std::lock_guard<std::mutex> lock(registry_->mutex_);
    auto it = registry_->listed_.find(key_);
    if (it != registry_->listed_.end() && it->second.lock() == progress_) {
      registry_->listed_.erase(it);
    }
  }
  Listing(const Listing&) = delete;
  Listing& operator=(const Listing&) = delete;

 private:
  QueryProgressRegistry* const registry_;  // outlives every call (the service owns both)
  const Key key_;
  const std::shared_ptr<CallProgress> progress_;
};

std::shared_ptr<void> QueryProgressRegistry::List(const std::string& user,
                                                  const std::string& key,
                                                  std::shared_ptr<CallProgress> call) {
  call->watched.store(true);
  std::lock_guard<std::mutex> lock(mutex_);
  listed_[{user, key}] = call;
  return std::make_shared<Listing>(this, Key{user, key}, std::move(call));
}

arrow::Result<std::string> QueryProgressRegistry::Answer(const std::string& user,
                                                         const std::string& body) {
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("key") || !doc["key"].is_string() ||
      !ValidKey(doc["key"].get<std::string>())) {
    return arrow::Status::Invalid(
        "query_progress takes {\"key\": KEY}, KEY the value of the DoGet's header ",
        kHeader, " (8 to 64 letters, digits, '-' or '_')");
  }
  const std::string key = doc["key"].get<std::string>();
  std::shared_ptr<CallProgress> progress;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = listed_.find({user, key});
    if (it != listed_.end()) progress = it->second.lock();
  }
  nlohmann::json out;
  out["running"] = progress != nullptr;
  if (progress) {
    const double percent = progress->QueryPercent();
    out["percent"] = percent >= 0 ? nlohmann::json(percent) : nlohmann::json(nullptr);
    out["rows"] = progress->rows.load(std::memory_order_relaxed);
  }
  return out.dump();
}

}  // namespace arrowport::flight
