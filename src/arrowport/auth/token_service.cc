#include "arrowport/auth/token_service.h"

#include <jwt.h>
#include <sodium.h>

#include <cerrno>
#include <chrono>

#include "arrowport/common/status_detail.h"
#include "arrowport/config/config.h"

namespace arrowport::auth {

namespace {

// One owner per libjwt handle.
struct JwtFree {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;
struct JwtStrFree {
  void operator()(char* text) const { jwt_free_str(text); }
};

constexpr size_t kGeneratedKeyBytes = 32;
// The credential fingerprint's key: subkey 1 of the signing key in this context.
constexpr uint64_t kFingerprintSubkeyId = 1;
constexpr char kFingerprintContext[crypto_kdf_CONTEXTBYTES + 1] = "apcredfp";
constexpr size_t kFingerprintBytes = 16;
// A token's iat may be this far ahead of now (the clock read when it was issued and the
// one read when it is checked are the same machine's).
constexpr int64_t kIssuedAtLeewayS = 5;
// Far above the tokens this server issues, within the 8 KiB Authorization header limit.
constexpr size_t kMaxTokenBytes = 4096;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Three non-empty parts of base64url characters (no padding), at most kMaxTokenBytes.
bool WellFormedJwt(const std::string& token) {
  if (token.size() > kMaxTokenBytes) return false;
  int parts = 1;
  size_t part_length = 0;
  for (const char c : token) {
    if (c == '.') {
      if (part_length == 0) return false;
      ++parts;
      part_length = 0;
    } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9') || c == '-' || c == '_') {
      ++part_length;
    } else {
      return false;
    }
  }
  return parts == 3 && part_length > 0;
}

}  // namespace

arrow::Result<std::unique_ptr<TokenService>> TokenService::Make(const std::string& secret,
                                                                int64_t ttl_s) {
  if (ttl_s <= 0) return arrow::Status::Invalid("auth.token_ttl_s must be positive");
  if (sodium_init() < 0) return arrow::Status::IOError("libsodium failed to initialise");
  std::string key = secret;
  const bool generated = key.empty();
  if (generated) {
    key.resize(kGeneratedKeyBytes);
    randombytes_buf(key.data(), key.size());
  }
  return std::unique_ptr<TokenService>(
      new TokenService(std::move(key), ttl_s, generated));
}

TokenService::TokenService(std::string key, int64_t ttl_s, bool generated)
    : key_(std::move(key)), ttl_s_(ttl_s), generated_(generated) {
  // crypto_kdf takes a master key of exactly its size: the signing key (of any length)
  // is hashed to one first.
  unsigned char master[crypto_kdf_KEYBYTES];
  crypto_generichash(master, sizeof(master),
                     reinterpret_cast<const unsigned char*>(key_.data()), key_.size(),
                     nullptr, 0);
  fingerprint_key_.resize(crypto_generichash_KEYBYTES);
  crypto_kdf_derive_from_key(reinterpret_cast<unsigned char*>(fingerprint_key_.data()),
                             fingerprint_key_.size(), kFingerprintSubkeyId,
                             kFingerprintContext, master);
  sodium_memzero(master, sizeof(master));
}

std::string TokenService::CredentialFingerprint(const std::string& password_hash) const {
  unsigned char digest[kFingerprintBytes];
  crypto_generichash(digest, sizeof(digest),
                     reinterpret_cast<const unsigned char*>(password_hash.data()),
                     password_hash.size(),
                     reinterpret_cast<const unsigned char*>(fingerprint_key_.data()),
                     fingerprint_key_.size());
  char hex[sizeof(digest) * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
  return hex;
}

arrow::Result<IssuedToken> TokenService::Issue(const std::string& user, Role role,
                                               const std::string& credential) const {
  return IssueAt(user, role, Now(), credential);
}

arrow::Result<IssuedToken> TokenService::IssueAt(const std::string& user, Role role,
                                                 int64_t now,
                                                 const std::string& credential) const {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return arrow::Status::OutOfMemory("jwt_new failed");
  JwtPtr jwt(raw);
  IssuedToken out;
  out.expires_at = now + ttl_s_;
  if (jwt_add_grant(jwt.get(), "sub", user.c_str()) != 0 ||
      jwt_add_grant(jwt.get(), "role", config::ToString(role)) != 0 ||
      jwt_add_grant_int(jwt.get(), "iat", static_cast<long>(now)) != 0 ||
      jwt_add_grant_int(jwt.get(), "exp", static_cast<long>(out.expires_at)) != 0 ||
      (!credential.empty() && jwt_add_grant(jwt.get(), "cred", credential.c_str()) != 0)) {
    return arrow::Status::UnknownError("cannot add claims to the token");
  }
  if (jwt_set_alg(jwt.get(), JWT_ALG_HS256,
                  reinterpret_cast<const unsigned char*>(key_.data()),
                  static_cast<int>(key_.size())) != 0) {
    return arrow::Status::UnknownError("cannot set the token's signing key");
  }
  std::unique_ptr<char, JwtStrFree> encoded(jwt_encode_str(jwt.get()));
  if (!encoded) return arrow::Status::UnknownError("cannot sign the token");
  out.token = encoded.get();
  if (out.token.size() > kMaxTokenBytes) {  // Verify would refuse it as malformed
    return arrow::Status::Invalid("the token for user '", user.substr(0, 40), "' would be ",
                                  out.token.size(), " bytes, over the ", kMaxTokenBytes,
                                  " a client may present: give the user a shorter name");
  }
  return out;
}

arrow::Result<TokenClaims> TokenService::Verify(const std::string& token) const {
  return VerifyAt(token, Now());
}

arrow::Result<TokenClaims> TokenService::VerifyAt(const std::string& token,
                                                  int64_t now) const {
  // Anything but three non-empty base64url parts is not ours, and must not reach libjwt:
  // libjwt 1.17 (decoding with libb64) writes a byte into the 0-byte buffer it allocates
  // for an empty header, payload or RS/ES signature part (docs/security.md).
  if (!WellFormedJwt(token)) {
    return Unauthenticated(
        "malformed bearer token: expected header.payload.signature in base64url, at "
        "most ",
        kMaxTokenBytes, " bytes (get one from POST /auth/token or a Basic login)");
  }
  jwt_t* raw = nullptr;
  // With a key, libjwt checks the HS256 signature and refuses unsigned ("none") tokens.
  const int rc =
      jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(key_.data()),
                 static_cast<int>(key_.size()));
  JwtPtr jwt(raw);
  if (rc != 0 || !jwt) {
    return Unauthenticated(
        "invalid bearer token (bad signature or format; tokens end "
        "when the server restarts without auth.token_secret)");
  }
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) {
    return Unauthenticated("invalid bearer token: only HS256 tokens are accepted");
  }
  TokenClaims claims;
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  const char* role = jwt_get_grant(jwt.get(), "role");
  errno = 0;
  claims.expires_at = jwt_get_grant_int(jwt.get(), "exp");
  const bool has_exp = errno == 0;
  errno = 0;
  claims.issued_at = jwt_get_grant_int(jwt.get(), "iat");
  const bool has_iat = errno == 0;
  if (sub == nullptr || role == nullptr || !has_exp || !has_iat) {
    return Unauthenticated("invalid bearer token: missing sub, role, iat or exp");
  }
  // This server issues its tokens itself: one issued in the future was not, nor one that
  // lives longer than it lets tokens live (forged with a stolen key, say, for a year).
  if (claims.issued_at > now + kIssuedAtLeewayS) {
    return Unauthenticated("invalid bearer token: issued in the future");
  }
  int64_t lifetime = 0;
  if (__builtin_sub_overflow(claims.expires_at, claims.issued_at, &lifetime) ||
      lifetime > ttl_s_) {
    return Unauthenticated("invalid bearer token: valid for longer (exp - iat) than "
                           "auth.token_ttl_s (",
                           ttl_s_, " s) lets this server issue; sign in again");
  }
  auto parsed_role = config::ParseRole(role);
  if (!parsed_role.ok()) return Unauthenticated("invalid bearer token: unknown role");
  claims.user = sub;
  claims.role = *parsed_role;
  const char* credential = jwt_get_grant(jwt.get(), "cred");
  if (credential != nullptr) claims.credential = credential;
  if (claims.expires_at <= now) {
    return Unauthenticated("bearer token expired; authenticate again to get a new one");
  }
  return claims;
}

}  // namespace arrowport::auth
