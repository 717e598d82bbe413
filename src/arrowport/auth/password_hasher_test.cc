#include "arrowport/auth/password_hasher.h"

#include <gtest/gtest.h>

#include <chrono>

namespace arrowport::auth {
namespace password_hasher_test {

TEST(PasswordHasher, HashesAreSaltedArgon2idAndVerify) {
  auto a = PasswordHasher::Hash("correct horse");
  auto b = PasswordHasher::Hash("correct horse");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->rfind("$argon2id$v=19$m=32768,t=2,p=1$", 0), 0u) << *a;
  EXPECT_NE(*a, *b);  // a random salt each time
  EXPECT_TRUE(*PasswordHasher::Verify(*a, "correct horse"));
  EXPECT_TRUE(*PasswordHasher::Verify(*b, "correct horse"));
  EXPECT_FALSE(*PasswordHasher::Verify(*a, "correct horse "));
  EXPECT_FALSE(*PasswordHasher::Verify(*a, ""));
}

TEST(PasswordHasher, RefusesWhatIsNotAnArgon2idString) {
  EXPECT_FALSE(PasswordHasher::Verify("hunter2", "hunter2").ok());
  EXPECT_FALSE(PasswordHasher::Verify("$2b$12$abcdefghijklmnopqrstuv", "x").ok());
  // Well-shaped but corrupt: not accepted, never a crash.
  auto st = PasswordHasher::Verify("$argon2id$v=19$m=32768,t=2,p=1$AAAA$BBBB", "x");
  EXPECT_TRUE(!st.ok() || !*st);
}

TEST(PasswordHasher, OneVerificationIsCheap) {
  auto hash = PasswordHasher::Hash("pw");
  ASSERT_TRUE(hash.ok());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(*PasswordHasher::Verify(*hash, "pw"));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  // ~30-60 ms on a quiet core; generous for a shared CI machine.
  EXPECT_LT(ms, 2000);
  std::printf("argon2id verify: %lld ms\n", static_cast<long long>(ms));
}

}  // namespace password_hasher_test
}  // namespace arrowport::auth
