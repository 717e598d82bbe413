#include "arrowport/auth/user_directory.h"

namespace arrowport::auth {

void UserDirectory::Replace(const std::vector<User>& users) {
  auto fresh = std::make_shared<Map>();
  for (const auto& user : users) (*fresh)[user.name] = std::make_shared<const User>(user);
  std::lock_guard<std::mutex> lock(mutex_);
  users_ = std::move(fresh);
}

std::shared_ptr<const UserDirectory::User> UserDirectory::Find(
    const std::string& name) const {
  std::shared_ptr<const Map> users;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    users = users_;
  }
  auto it = users->find(name);
  return it == users->end() ? nullptr : it->second;
}

size_t UserDirectory::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return users_->size();
}

}  // namespace arrowport::auth
