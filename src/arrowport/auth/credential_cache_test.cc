#include "arrowport/auth/credential_cache.h"

#include <gtest/gtest.h>

namespace arrowport::auth {
namespace credential_cache_test {

TEST(CredentialCache, RemembersOnlyWhatVerifiedAgainstTheSameHash) {
  CredentialCache cache(std::chrono::seconds(60), 16);
  EXPECT_FALSE(cache.Contains("ann", "pw", "hash1"));
  cache.Add("ann", "pw", "hash1");
  EXPECT_TRUE(cache.Contains("ann", "pw", "hash1"));
  EXPECT_FALSE(cache.Contains("ann", "pw", "hash2"));   // password changed by a reload
  EXPECT_FALSE(cache.Contains("ann", "pw2", "hash1"));  // another password
  EXPECT_FALSE(cache.Contains("an", "npw", "hash1"));   // same bytes, split elsewhere
}

TEST(CredentialCache, EntriesExpireAndTheCacheStaysBounded) {
  CredentialCache expired(std::chrono::seconds(0), 16);
  expired.Add("ann", "pw", "h");
  EXPECT_FALSE(expired.Contains("ann", "pw", "h"));
  CredentialCache small(std::chrono::seconds(60), 2);
  small.Add("a", "1", "h");
  small.Add("b", "2", "h");
  small.Add("c", "3", "h");  // evicts the oldest
  EXPECT_FALSE(small.Contains("a", "1", "h"));
  EXPECT_TRUE(small.Contains("b", "2", "h"));
  EXPECT_TRUE(small.Contains("c", "3", "h"));
}

}  // namespace credential_cache_test
}  // namespace arrowport::auth
