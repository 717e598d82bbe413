#include "arrowport/auth/password_hasher.h"

#include <sodium.h>

#include <cstring>

namespace arrowport::auth {

arrow::Status PasswordHasher::Init() {
  if (sodium_init() < 0) return arrow::Status::IOError("libsodium failed to initialise");
  return arrow::Status::OK();
}

arrow::Result<std::string> PasswordHasher::Hash(const std::string& password) {
  ARROW_RETURN_NOT_OK(Init());
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kOpsLimit, kMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return arrow::Status::OutOfMemory("argon2id: not enough memory to hash the password");
  }
  return std::string(out);
}

arrow::Result<bool> PasswordHasher::Verify(const std::string& hash,
                                           const std::string& password) {
  ARROW_RETURN_NOT_OK(Init());
  if (hash.rfind("$argon2id$", 0) != 0 || hash.size() >= crypto_pwhash_STRBYTES) {
    return arrow::Status::Invalid("not an argon2id hash string");
  }
  // libsodium wants a NUL-terminated buffer of crypto_pwhash_STRBYTES.
  char stored[crypto_pwhash_STRBYTES] = {};
  std::memcpy(stored, hash.data(), hash.size());
  if (crypto_pwhash_str_verify(stored, password.data(), password.size()) == 0)
    return true;
  // A mismatch and a string libsodium cannot parse both answer -1: either way the
  // password is not accepted (the config checked the string's shape at load).
  return false;
}

}  // namespace arrowport::auth
