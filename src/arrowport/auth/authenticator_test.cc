#include "arrowport/auth/authenticator.h"

#include <gtest/gtest.h>

#include "arrow/util/base64.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/auth/password_hasher.h"
#include "arrowport/auth/token_service.h"
#include "arrowport/auth/user_directory.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/metrics/registry.h"

namespace arrowport::auth {
namespace authenticator_test {

config::Config::User MakeUser(const std::string& name, const std::string& password,
                              Role role) {
  config::Config::User user;
  user.name = name;
  user.password_hash = *PasswordHasher::Hash(password);
  user.role = role;
  return user;
}

std::string Basic(const std::string& user, const std::string& password) {
  return "Basic " + arrow::util::base64_encode(user + ":" + password);
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.auth.token_secret = "unit-test-secret";
    config_.auth.users = {MakeUser("ann", "pw-ann", Role::kReader),
                          MakeUser("bob", "pw-bob", Role::kWriter)};
    auto made = Authenticator::Make(config_, nullptr);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    auth_ = std::move(*made);
  }
  config::Config config_;
  std::unique_ptr<Authenticator> auth_;
  const AuthSource source_{"test", "local"};
};

// A cached credential skips the hash, never the throttle: a throttled guesser must not
// learn that a guess matched a cached password. Hash checks are counted.
TEST(AuthenticatorThrottleTest, CachedCredentialsAreThrottledAndHashChecksCounted) {
  config::Config config;
  config.auth.token_secret = "unit-test-secret";
  config.auth.users = {MakeUser("ann", "pw-ann", Role::kReader)};
  config.auth.max_failed_logins_per_address = 3;
  metrics::Registry registry;
  AuthCounters counters;
  counters.password_checks = &registry.AddCounter("checks", "h", {}).With({});
  counters.throttled = &registry.AddCounter("throttled", "h", {}).With({});
  auto auth = *Authenticator::Make(config, nullptr, counters);
  const AuthSource source{"test", "ipv4:10.0.0.1:5000"};
  ASSERT_TRUE(auth->Authenticate(Basic("ann", "pw-ann"), source).ok());  // now cached
  ASSERT_TRUE(auth->Authenticate(Basic("ann", "pw-ann"), source).ok());
  EXPECT_EQ(counters.password_checks->value(), 1);
  for (int i = 0; i < 3; ++i) {
    auto wrong = auth->Authenticate(Basic("bob", "guess"), source);
    EXPECT_TRUE(HasErrorKind(wrong.status(), ErrorKind::kUnauthenticated));
  }
  EXPECT_EQ(counters.password_checks->value(), 4);
  auto cached = auth->Authenticate(Basic("ann", "pw-ann"), source);
  ASSERT_FALSE(cached.ok());
  EXPECT_TRUE(HasErrorKind(cached.status(), ErrorKind::kRateLimited));
  EXPECT_EQ(counters.password_checks->value(), 4);
  EXPECT_EQ(counters.throttled->value(), 1);
  // Another address, and bearer tokens, are not affected.
  auto other = auth->Authenticate(Basic("ann", "pw-ann"), {"test", "ipv4:10.0.0.2:1"});
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  auto token = auth->IssueToken(*other->principal);
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(auth->Authenticate("Bearer " + token->token, source).ok());
}

TEST_F(AuthenticatorTest, BasicThenBearer) {
  ASSERT_TRUE(auth_->enabled());
  auto basic = auth_->Authenticate(Basic("ann", "pw-ann"), source_);
  ASSERT_TRUE(basic.ok()) << basic.status().ToString();
  EXPECT_TRUE(basic->basic);
  EXPECT_EQ(basic->principal->user, "ann");
  EXPECT_EQ(basic->principal->role, Role::kReader);
  EXPECT_FALSE(basic->principal->anonymous);
  // Cached: the second Basic login is answered without a KDF run, same result.
  EXPECT_TRUE(auth_->Authenticate(Basic("ann", "pw-ann"), source_).ok());
  auto token = auth_->IssueToken(*basic->principal);
  ASSERT_TRUE(token.ok());
  auto bearer = auth_->Authenticate("Bearer " + token->token, source_);
  ASSERT_TRUE(bearer.ok()) << bearer.status().ToString();
  EXPECT_FALSE(bearer->basic);
  EXPECT_EQ(bearer->principal->user, "ann");
  EXPECT_TRUE(auth_->Authenticate("bearer " + token->token, source_).ok());
}

TEST_F(AuthenticatorTest, BadCredentialsAreUnauthenticated) {
  for (const std::string header :
       {std::string(""), Basic("ann", "wrong"), Basic("nobody", "pw-ann"),
        std::string("Basic !!!"),
        std::string("Basic ") + arrow::util::base64_encode("nocolon"),
        std::string("Bearer xyz"), std::string("Digest abc"), std::string("Basic")}) {
    auto result = auth_->Authenticate(header, source_);
    ASSERT_FALSE(result.ok()) << header;
    EXPECT_TRUE(HasErrorKind(result.status(), ErrorKind::kUnauthenticated)) << header;
  }
}

TEST_F(AuthenticatorTest, ReloadRevokesTokensOfRemovedUsersAndChangedRoles) {
  auto ann = *auth_->Authenticate(Basic("ann", "pw-ann"), source_);
  auto bob = *auth_->Authenticate(Basic("bob", "pw-bob"), source_);
  auto ann_token = *auth_->IssueToken(*ann.principal);
  auto bob_token = *auth_->IssueToken(*bob.principal);
  // ann removed; bob demoted to reader.
  config::Config fresh = config_;
  fresh.auth.users = {config_.auth.users[1]};
  fresh.auth.users[0].role = Role::kReader;
  auth_->Reload(fresh);
  EXPECT_FALSE(auth_->Authenticate("Bearer " + ann_token.token, source_).ok());
  EXPECT_FALSE(auth_->Authenticate(Basic("ann", "pw-ann"), source_).ok());  // cache too
  auto stale = auth_->Authenticate("Bearer " + bob_token.token, source_);
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.status().message().find("role"), std::string::npos);
  auto again = auth_->Authenticate(Basic("bob", "pw-bob"), source_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->principal->role, Role::kReader);
  // A changed password misses the Basic cache and ends the tokens issued for the old
  // one (found by an outside review: a stolen token outlived a password rotation).
  auto before_change = *auth_->IssueToken(*again->principal);
  ASSERT_TRUE(auth_->Authenticate("Bearer " + before_change.token, source_).ok());
  fresh.auth.users[0].password_hash = *PasswordHasher::Hash("new-pw");
  auth_->Reload(fresh);
  EXPECT_FALSE(auth_->Authenticate(Basic("bob", "pw-bob"), source_).ok());
  auto after_change = auth_->Authenticate(Basic("bob", "new-pw"), source_);
  EXPECT_TRUE(after_change.ok());
  auto rotated = auth_->Authenticate("Bearer " + before_change.token, source_);
  ASSERT_FALSE(rotated.ok());
  EXPECT_NE(rotated.status().message().find("password"), std::string::npos);
  auto fresh_token = *auth_->IssueToken(*after_change->principal);
  EXPECT_TRUE(auth_->Authenticate("Bearer " + fresh_token.token, source_).ok());
}

// The credential fingerprint is keyed since issue 64: a token issued before (an unkeyed
// fingerprint, 16 hex digits, under the same configured secret) fails once, saying why.
TEST_F(AuthenticatorTest, ATokenWithTheUnkeyedFingerprintIsToldToSignInAgain) {
  auto same_key =
      *TokenService::Make(config_.auth.token_secret, config_.auth.token_ttl_s);
  auto old = *same_key->Issue("ann", Role::kReader, "0123456789abcdef");
  auto refused = auth_->Authenticate("Bearer " + old.token, source_);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(HasErrorKind(refused.status(), ErrorKind::kUnauthenticated));
  EXPECT_NE(refused.status().message().find("sign in again"), std::string::npos)
      << refused.status();
  // A fingerprint that is not this server's keyed one is refused as a changed password.
  auto guessed = *same_key->Issue("ann", Role::kReader, std::string(32, 'a'));
  EXPECT_FALSE(auth_->Authenticate("Bearer " + guessed.token, source_).ok());
  auto ann = *auth_->Authenticate(Basic("ann", "pw-ann"), source_);
  auto fresh = *auth_->IssueToken(*ann.principal);
  EXPECT_TRUE(auth_->Authenticate("Bearer " + fresh.token, source_).ok());
}

TEST(UserDirectoryTest, ReplaceSwapsTheWholeList) {
  config::Config::User a;
  a.name = "a";
  UserDirectory directory({a});
  auto held = directory.Find("a");
  ASSERT_NE(held, nullptr);
  config::Config::User b;
  b.name = "b";
  directory.Replace({b});
  EXPECT_EQ(directory.Find("a"), nullptr);
  EXPECT_NE(directory.Find("b"), nullptr);
  EXPECT_EQ(held->name, "a");  // a snapshot held across a reload stays valid
  EXPECT_EQ(directory.size(), 1u);
}

TEST(AuthenticatorOff, EveryCallIsAnAnonymousAdmin) {
  config::Config config;  // no users, loopback
  auto auth = *Authenticator::Make(config, nullptr);
  EXPECT_FALSE(auth->enabled());
  auto who = auth->Authenticate("", AuthSource{"test", "local"});
  ASSERT_TRUE(who.ok());
  EXPECT_TRUE(who->principal->anonymous);
  EXPECT_EQ(who->principal->role, Role::kAdmin);
}

TEST(AccessPolicyTest, RolesAndLists) {
  Principal reader{"r", Role::kReader, {"t1"}, {}, false};
  Principal writer{"w", Role::kWriter, {}, {"s1"}, false};
  Principal admin{"a", Role::kAdmin, {}, {}, false};
  auto denied = [](const arrow::Status& st) {
    return HasErrorKind(st, ErrorKind::kPermissionDenied);
  };
  EXPECT_TRUE(denied(AccessPolicy::RequireRole(&reader, Role::kWriter, "ingest")));
  EXPECT_TRUE(AccessPolicy::RequireRole(&admin, Role::kAdmin, "checkpoint").ok());
  EXPECT_TRUE(AccessPolicy::RequireRole(nullptr, Role::kAdmin, "checkpoint").ok());
  EXPECT_TRUE(AccessPolicy::ReadTable(&reader, "t1").ok());
  EXPECT_TRUE(denied(AccessPolicy::ReadTable(&reader, "t2")));
  EXPECT_TRUE(AccessPolicy::ReadTable(&writer, "anything").ok());
  EXPECT_TRUE(denied(AccessPolicy::WriteStream(&reader, "s1", "")));
  EXPECT_TRUE(AccessPolicy::WriteStream(&writer, "s1", "").ok());
  EXPECT_TRUE(denied(AccessPolicy::WriteStream(&writer, "s2", "")));
  EXPECT_TRUE(denied(AccessPolicy::WriteStream(&writer, "s1", "secret_table")));
  EXPECT_TRUE(AccessPolicy::WriteStream(&admin, "any", "any_table").ok());
  // A stream's name in another case is the same stream (and DuckDB table): it was
  // refused, and hidden from the user's listing once listed under the configured case.
  EXPECT_TRUE(AccessPolicy::WriteStream(&writer, "S1", "").ok());
  EXPECT_TRUE(AccessPolicy::WriteStream(&writer, "s1", "S1").ok());
  EXPECT_TRUE(AccessPolicy::SeesStream(&writer, "S1", "other_table"));
  EXPECT_FALSE(AccessPolicy::SeesStream(&writer, "s2", "other_table"));
}

}  // namespace authenticator_test
}  // namespace arrowport::auth
