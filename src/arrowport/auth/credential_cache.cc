#include "arrowport/auth/credential_cache.h"

#include <sodium.h>

#include <algorithm>

namespace arrowport::auth {

CredentialCache::CredentialCache(std::chrono::seconds ttl, size_t capacity)
    : ttl_(ttl), capacity_(std::max<size_t>(capacity, 1)) {
  (void)sodium_init();  // idempotent; randombytes works (falls back to the OS) either way
  randombytes_buf(key_.data(), key_.size());
}

CredentialCache::Key CredentialCache::Digest(const std::string& a,
                                             const std::string& b) const {
  Key out{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, key_.data(), key_.size(), out.size());
  // Length-prefixed so ("ab", "c") and ("a", "bc") differ.
  const uint64_t length = a.size();
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(&length),
                            sizeof(length));
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(a.data()),
                            a.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(b.data()),
                            b.size());
  crypto_generichash_final(&state, out.data(), out.size());
  return out;
}

bool CredentialCache::Contains(const std::string& user, const std::string& password,
                               const std::string& password_hash) const {
  const Key key = Digest(user, password);
  const Key against = Digest(user, password_hash);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.expires <= Clock::now()) return false;
  return sodium_memcmp(it->second.verified_against.data(), against.data(),
                       against.size()) == 0;
}

void CredentialCache::Add(const std::string& user, const std::string& password,
                          const std::string& password_hash) {
  const Key key = Digest(user, password);
  const Entry entry{Digest(user, password_hash), Clock::now() + ttl_};
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.size() >= capacity_ && entries_.find(key) == entries_.end()) {
    const auto now = Clock::now();
    std::erase_if(entries_, [now](const auto& kv) { return kv.second.expires <= now; });
    if (entries_.size() >= capacity_) {
      auto oldest = std::min_element(
          entries_.begin(), entries_.end(),
          [](auto& x, auto& y) { return x.second.expires < y.second.expires; });
      entries_.erase(oldest);
    }
  }
  entries_[key] = entry;
}

}  // namespace arrowport::auth
