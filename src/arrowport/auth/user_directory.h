#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "arrowport/config/config.h"

namespace arrowport::auth {

/// \brief The configured users (auth.users) by name. Replaced whole when the config
/// reloads; readers get an immutable snapshot, so a lookup never sees half a reload.
/// Thread-safe.
class UserDirectory {
 public:
  using User = config::Config::User;
  explicit UserDirectory(const std::vector<User>& users) { Replace(users); }

  /// Swaps in a new user list (hot reload).
  void Replace(const std::vector<User>& users);

  /// The user named `name`, or null when there is none (removed by a reload, or never).
  std::shared_ptr<const User> Find(const std::string& name) const;

  size_t size() const;

 private:
  using Map = std::map<std::string, std::shared_ptr<const User>>;
  mutable std::mutex mutex_;  // guards users_ (the pointer; the map itself is immutable)
  std::shared_ptr<const Map> users_;
};

}  // namespace arrowport::auth
