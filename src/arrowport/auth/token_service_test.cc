#include "arrowport/auth/token_service.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <limits>

#include "arrowport/common/status_detail.h"

namespace arrowport::auth {
namespace token_service_test {

bool IsUnauthenticated(const arrow::Status& st) {
  return HasErrorKind(st, ErrorKind::kUnauthenticated);
}

std::string Base64Url(const std::string& bytes) {
  static const char* kDigits =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t bits = 0;
  int held = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c;
    held += 8;
    while (held >= 6) out += kDigits[(bits >> (held -= 6)) & 63];
  }
  if (held > 0) out += kDigits[(bits << (6 - held)) & 63];
  return out;
}

// An HS256 JWT of `payload` signed with `key`, as anyone holding the key can make one.
std::string Signed(const std::string& key, const std::string& payload) {
  const std::string signing_input =
      Base64Url(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64Url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
       mac, &length);
  const std::string signature(reinterpret_cast<char*>(mac), length);
  return signing_input + "." + Base64Url(signature);
}

TEST(TokenService, IssuesAndVerifiesClaims) {
  auto tokens = TokenService::Make("test-secret", 60);
  ASSERT_TRUE(tokens.ok());
  auto issued = (*tokens)->IssueAt("ann", Role::kWriter, 1000);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  EXPECT_EQ(issued->expires_at, 1060);
  auto claims = (*tokens)->VerifyAt(issued->token, 1001);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(claims->user, "ann");
  EXPECT_EQ(claims->role, Role::kWriter);
  EXPECT_EQ(claims->issued_at, 1000);
  EXPECT_EQ(claims->expires_at, 1060);
}

TEST(TokenService, ExpiredTokensAreRefused) {
  auto tokens = *TokenService::Make("test-secret", 60);
  auto issued = *tokens->IssueAt("ann", Role::kReader, 1000);
  auto late = tokens->VerifyAt(issued.token, 1060);
  ASSERT_FALSE(late.ok());
  EXPECT_TRUE(IsUnauthenticated(late.status()));
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
  // Real clock: a token issued long ago.
  EXPECT_FALSE(tokens->Verify(issued.token).ok());
}

// Found by the hardening review: a correctly signed token with iat in the future was
// accepted (the server issues its own tokens: none can be issued later than now).
TEST(TokenService, TokensIssuedInTheFutureAreRefused) {
  auto tokens = *TokenService::Make("test-secret", 3600);
  auto future = *tokens->IssueAt("ann", Role::kAdmin, 100000);
  auto refused = tokens->VerifyAt(future.token, 1000);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(IsUnauthenticated(refused.status()));
  EXPECT_NE(refused.status().message().find("future"), std::string::npos);
  EXPECT_TRUE(tokens->VerifyAt(future.token, 100000).ok());
  EXPECT_TRUE(tokens->VerifyAt(future.token, 99998).ok());  // within the clock leeway
}

// Found by the fifth attack (issue 64): a reader of the config's token_secret forged an
// admin token valid for a year. Whoever signed it, a token that lives longer than
// auth.token_ttl_s was not issued by this server.
TEST(TokenService, TokensLivingLongerThanTheTtlAreRefused) {
  const std::string key = "test-secret-of-at-least-32-bytes";
  auto tokens = *TokenService::Make(key, 3600);
  const auto claims = [](int64_t iat, int64_t exp) {
    return R"({"sub":"ann","role":"admin","iat":)" + std::to_string(iat) +
           R"(,"exp":)" + std::to_string(exp) + "}";
  };
  const std::string year = Signed(key, claims(1000, 1000 + 365 * 86400));
  auto refused = tokens->VerifyAt(year, 1001);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(IsUnauthenticated(refused.status()));
  const std::string message = refused.status().message();
  EXPECT_NE(message.find("auth.token_ttl_s (3600 s)"), std::string::npos) << message;
  EXPECT_NE(message.find("sign in again"), std::string::npos);
  // One second over, and a difference that overflows, are refused; the TTL itself is not.
  EXPECT_FALSE(tokens->VerifyAt(Signed(key, claims(1000, 4601)), 1001).ok());
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_FALSE(tokens->VerifyAt(Signed(key, claims(kMin, kMax)), 1001).ok());
  auto within = tokens->VerifyAt(Signed(key, claims(1000, 4600)), 1001);
  ASSERT_TRUE(within.ok()) << within.status();
  EXPECT_EQ(within->role, Role::kAdmin);
  // A server of the same key with a longer TTL (before a restart lowered it) issued it.
  auto longer = *TokenService::Make(key, 7200);
  const std::string issued = longer->IssueAt("ann", Role::kReader, 1000)->token;
  EXPECT_FALSE(tokens->VerifyAt(issued, 1001).ok());
}

// The credential fingerprint was an unkeyed BLAKE2b of the password hash, which sits in
// the config file beside the users: it is keyed with a key derived from the signing key.
TEST(TokenService, CredentialFingerprintsAreKeyedWithTheSigningKey) {
  auto tokens = *TokenService::Make("test-secret-of-at-least-32-bytes", 3600);
  auto same_key = *TokenService::Make("test-secret-of-at-least-32-bytes", 3600);
  auto other_key = *TokenService::Make("another-secret-of-at-least-32-bytes", 3600);
  auto generated = *TokenService::Make("", 3600);
  const std::string hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
  const std::string fingerprint = tokens->CredentialFingerprint(hash);
  EXPECT_EQ(fingerprint.size(), 32u);
  EXPECT_EQ(fingerprint, same_key->CredentialFingerprint(hash));
  EXPECT_NE(fingerprint, other_key->CredentialFingerprint(hash));
  EXPECT_NE(fingerprint, generated->CredentialFingerprint(hash));
  EXPECT_NE(fingerprint, tokens->CredentialFingerprint(hash + "x"));
}

TEST(TokenService, TamperedOrForeignTokensAreRefused) {
  auto tokens = *TokenService::Make("test-secret", 3600);
  auto issued = *tokens->Issue("ann", Role::kReader);
  ASSERT_TRUE(tokens->Verify(issued.token).ok());
  // Another key.
  auto other = *TokenService::Make("other-secret", 3600);
  EXPECT_TRUE(IsUnauthenticated(other->Verify(issued.token).status()));
  // A generated key differs from every other one.
  auto generated = *TokenService::Make("", 3600);
  EXPECT_TRUE(generated->generated_secret());
  EXPECT_FALSE(generated->Verify(issued.token).ok());
  // Payload swapped for one claiming admin, signature kept.
  auto admin = *tokens->Issue("ann", Role::kAdmin);
  const auto dot1 = issued.token.find('.'), dot2 = issued.token.rfind('.');
  const auto adot1 = admin.token.find('.'), adot2 = admin.token.rfind('.');
  const std::string forged = issued.token.substr(0, dot1) +
                             admin.token.substr(adot1, adot2 - adot1) +
                             issued.token.substr(dot2);
  EXPECT_TRUE(IsUnauthenticated(tokens->Verify(forged).status()));
  // One signature character flipped.
  std::string flipped = issued.token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(tokens->Verify(flipped).ok());
  // Unsigned ("alg": "none"): header {"alg":"none","typ":"JWT"}.
  const std::string none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0" +
                           issued.token.substr(dot1, dot2 - dot1) + ".";
  EXPECT_FALSE(tokens->Verify(none).ok());
  for (const char* junk : {"", "abc", "a.b.c", "...."}) {
    EXPECT_TRUE(IsUnauthenticated(tokens->Verify(junk).status())) << junk;
  }
}

// Found by valgrind: libjwt 1.17 (decoding with libb64) writes a byte into the 0-byte
// buffer it allocates for an empty header, payload or RS/ES signature part. Such tokens,
// and any other shape, are refused before they reach it.
TEST(TokenService, MalformedTokensNeverReachTheDecoder) {
  auto tokens = *TokenService::Make("test-secret", 3600);
  const std::string issued = tokens->Issue("ann", Role::kReader)->token;
  const auto dot1 = issued.find('.'), dot2 = issued.rfind('.');
  const std::string header = issued.substr(0, dot1), signature = issued.substr(dot2 + 1);
  const std::string payload = issued.substr(dot1 + 1, dot2 - dot1 - 1);
  // {"alg":"RS256","typ":"JWT"}: libjwt decodes an RS256 token's signature.
  const std::string rs256 = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9";
  const std::string well_formed_at_limit =
      "aaaa.bbbb." + std::string(4096 - 10, 'c');  // refused later, as invalid
  for (const std::string& malformed :
       {std::string(), header + ".." + signature, "." + payload + "." + signature,
        rs256 + "." + payload + ".", std::string("x.y"), std::string("x.y.z.w"),
        std::string("x.y.z="), std::string("x.y.z "), std::string("x.y+.z"),
        std::string("...."), well_formed_at_limit + "c"}) {
    auto refused = tokens->Verify(malformed).status();
    EXPECT_TRUE(IsUnauthenticated(refused)) << malformed;
    EXPECT_NE(refused.message().find("malformed bearer token"), std::string::npos)
        << malformed.substr(0, 20) << ": " << refused;
  }
  // A name so long that its token would be refused is refused when the token is made.
  auto too_long = tokens->Issue(std::string(4000, 'n'), Role::kReader);
  EXPECT_TRUE(too_long.status().IsInvalid()) << too_long.status();
  auto invalid = tokens->Verify(well_formed_at_limit).status();
  EXPECT_TRUE(IsUnauthenticated(invalid));
  EXPECT_EQ(invalid.message().find("malformed"), std::string::npos) << invalid;
}

}  // namespace token_service_test
}  // namespace arrowport::auth
