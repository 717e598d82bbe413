#include "arrowport/lake/commit_seal.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>

#include "arrowport/common/text_util.h"
#include "arrowport/config/config_file.h"

namespace arrowport::lake {

namespace {

// Separates these keys and seals from any other use of the same secret.
constexpr std::string_view kKeyContext = "arrowport lake commit key v1";
// v2 binds the table's location (v1 seals verify nowhere: their retries are written).
constexpr std::string_view kSealContext = "arrowport lake commit seal v2";

// Length-prefixed, so that no two different lists of fields hash alike.
void Update(crypto_generichash_state* state, std::string_view field) {
  const uint64_t length = field.size();
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>(length >> (8 * i));
  crypto_generichash_update(state, prefix, sizeof(prefix));
  crypto_generichash_update(state, reinterpret_cast<const unsigned char*>(field.data()),
                            field.size());
}

}  // namespace

arrow::Result<std::shared_ptr<const SealKey>> SealKey::FromSecret(
    std::string_view secret, const std::string& what) {
  const std::string_view text = Trimmed(secret);
  if (text.size() < kMinSecretBytes) {
    return arrow::Status::Invalid(what, " holds ", text.size(),
                                  " bytes; a lake commit key needs at least ",
                                  kMinSecretBytes,
                                  " random bytes (make one with: openssl rand -hex 32)");
  }
  if (sodium_init() < 0) return arrow::Status::IOError("libsodium failed to initialise");
  std::shared_ptr<SealKey> key(new SealKey());
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, key->key_.size());
  Update(&state, kKeyContext);
  Update(&state, text);
  crypto_generichash_final(&state, key->key_.data(), key->key_.size());
  return key;
}

arrow::Result<std::shared_ptr<const SealKey>> SealKey::FromFile(const std::string& path) {
  const std::string what = "lake.commit_key_file '" + path + "'";
  // Whoever reads it can seal commits that every node answers retries from.
  ARROW_ASSIGN_OR_RAISE(auto secret, config::ReadPrivateSecret(path, what));
  return FromSecret(secret, what);
}

std::string SealKey::NewSecret() {
  if (sodium_init() < 0) {
    // randombytes works without it (it falls back to the OS's generator).
  }
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof(bytes));
  char hex[2 * sizeof(bytes) + 1];
  sodium_bin2hex(hex, sizeof(hex), bytes, sizeof(bytes));
  return hex;
}

std::shared_ptr<const SealKey> SealKey::Random() {
  return FromSecret(NewSecret(), "a random secret").ValueOrDie();
}

std::string SealKey::Seal(const SealedFacts& facts) const {
  std::vector<std::string> files = facts.files;
  std::sort(files.begin(), files.end());
  crypto_generichash_state state;
  crypto_generichash_init(&state, key_.data(), key_.size(), 32);
  Update(&state, kSealContext);
  for (const std::string& field :
       {facts.format, facts.table, facts.location, std::to_string(facts.snapshot), facts.app_id,
        std::to_string(facts.txn_version), std::to_string(facts.rows),
        std::to_string(facts.batches), std::to_string(files.size())}) {
    Update(&state, field);
  }
  for (const auto& file : files) Update(&state, file);
  unsigned char digest[32];
  crypto_generichash_final(&state, digest, sizeof(digest));
  char hex[2 * sizeof(digest) + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
  return hex;
}

bool SealKey::Verifies(const SealedFacts& facts, const std::string& seal) const {
  const std::string expected = Seal(facts);
  return seal.size() == expected.size() &&
         sodium_memcmp(seal.data(), expected.data(), expected.size()) == 0;
}

bool IsRequestAppId(const std::string& app_id) {
  return app_id.rfind("arrowport:", 0) == 0;
}

}  // namespace arrowport::lake
