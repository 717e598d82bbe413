#include "arrowport/auth/login_throttle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "arrowport/common/status_detail.h"

namespace arrowport::auth {
namespace login_throttle_test {

using namespace std::chrono_literals;

// A throttle whose clock the test moves.
struct Fixture {
  explicit Fixture(int per_address, int per_account, size_t max_entries = 16384,
                   std::chrono::milliseconds max_wait = 100ms) {
    LoginThrottle::Options options;
    options.per_address = per_address;
    options.per_account = per_account;
    options.window = 60s;
    options.max_wait = max_wait;
    options.max_entries = max_entries;
    options.clock = [this] { return now.load(); };
    throttle = std::make_unique<LoginThrottle>(options);
  }
  // One whole login: Begin, then Failed or Succeeded; the status of Begin.
  arrow::Status Login(const std::string& address, const std::string& account,
                      bool right) {
    auto attempt = throttle->Begin(address, &account);
    if (!attempt.ok()) return attempt.status();
    right ? attempt->Succeeded() : attempt->Failed();
    return arrow::Status::OK();
  }
  std::atomic<LoginThrottle::Clock::time_point> now{LoginThrottle::Clock::now()};
  std::unique_ptr<LoginThrottle> throttle;
};

bool Throttled(const arrow::Status& status) {
  return HasErrorKind(status, ErrorKind::kRateLimited);
}

TEST(LoginThrottleTest, AnAddressWithTooManyFailuresWaitsForTheOldestToAgeOut) {
  Fixture f(3, 0);
  const auto t0 = f.now.load();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.Login("ip:10.0.0.1", "alice", false).ok());
  f.now = t0 + 10s;
  auto refused = f.throttle->Begin("ip:10.0.0.1", nullptr);
  ASSERT_FALSE(refused.ok());
  ASSERT_TRUE(Throttled(refused.status()));
  EXPECT_EQ(GetErrorKind(refused.status())->retry_after_s(), 50);
  EXPECT_NE(refused.status().message().find("auth.max_failed_logins_per_address"),
            std::string::npos);
  EXPECT_TRUE(f.Login("ip:10.0.0.2", "alice", false).ok());  // other addresses unaffected
  f.now = t0 + 61s;                                          // the failures aged out
  EXPECT_TRUE(f.Login("ip:10.0.0.1", "alice", false).ok());
  EXPECT_TRUE(f.Login("ip:10.0.0.1", "alice", false).ok());
}

TEST(LoginThrottleTest, ASuccessAsOneAccountDoesNotClearGuessesAtAnother) {
  Fixture f(3, 0);
  ASSERT_TRUE(f.Login("ip:10.0.0.1", "victim", false).ok());
  ASSERT_TRUE(f.Login("ip:10.0.0.1", "victim", false).ok());
  ASSERT_TRUE(f.Login("ip:10.0.0.1", "mine", true).ok());  // the attacker's own account
  ASSERT_TRUE(f.Login("ip:10.0.0.1", "victim", false).ok());
  EXPECT_TRUE(Throttled(f.Login("ip:10.0.0.1", "victim", true)));
  EXPECT_TRUE(Throttled(f.Login("ip:10.0.0.1", "mine", true)));
}

TEST(LoginThrottleTest, ASuccessForgivesItsOwnTypingErrors) {
  Fixture f(3, 3);
  ASSERT_TRUE(f.Login("ip:10.0.0.1", "alice", false).ok());
  ASSERT_TRUE(f.Login("ip:10.0.0.1", "alice", false).ok());
  ASSERT_TRUE(f.Login("ip:10.0.0.1", "alice", true).ok());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(f.Login("ip:10.0.0.1", "alice", false).ok());
  EXPECT_TRUE(Throttled(f.Login("ip:10.0.0.1", "alice", true)));
}

TEST(LoginThrottleTest, GuessesAtOneAccountFromManyAddressesAreLimited) {
  Fixture f(0, 3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(f.Login("ip:10.0.1." + std::to_string(i), "alice", false).ok());
  }
  auto refused = f.Login("ip:10.0.2.1", "alice", true);
  ASSERT_TRUE(Throttled(refused));
  EXPECT_NE(refused.message().find("auth.max_failed_logins_per_account"),
            std::string::npos);
  EXPECT_TRUE(f.Login("ip:10.0.2.1", "bob", false).ok());  // other accounts unaffected
  f.now = f.now.load() + 61s;
  EXPECT_TRUE(f.Login("ip:10.0.2.1", "alice", false).ok());
}

TEST(LoginThrottleTest, AnAddressThatLoggedInAsTheAccountIsNotLockedOutByStrangers) {
  Fixture f(5, 3);
  ASSERT_TRUE(f.Login("ip:10.0.0.9", "alice", true).ok());  // alice's own machine
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(f.Login("ip:10.0.1." + std::to_string(i), "alice", false).ok());
  }
  EXPECT_TRUE(Throttled(f.Login("ip:10.0.2.1", "alice", true)));  // a new address waits
  EXPECT_TRUE(f.Login("ip:10.0.0.9", "alice", true).ok());
  // Its own count still holds: alice's machine guessing is limited like any other.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(f.Login("ip:10.0.0.9", "bob" + std::to_string(i), false).ok());
  }
  EXPECT_TRUE(Throttled(f.Login("ip:10.0.0.9", "alice", true)));
}

TEST(LoginThrottleTest, CredentialsNamingNoAccountCountForTheAddress) {
  Fixture f(2, 2);
  for (int i = 0; i < 2; ++i) {
    auto attempt = f.throttle->Begin("ip:10.0.0.1", nullptr);
    ASSERT_TRUE(attempt.ok());
    attempt->Failed();
  }
  EXPECT_TRUE(Throttled(f.Login("ip:10.0.0.1", "alice", true)));
}

TEST(LoginThrottleTest, AnAbandonedAttemptCountsNothing) {
  Fixture f(1, 1);
  for (int i = 0; i < 5; ++i) {
    const std::string alice = "alice";
    ASSERT_TRUE(f.throttle->Begin("ip:10.0.0.1", &alice).ok());  // dropped unended
  }
  EXPECT_TRUE(f.Login("ip:10.0.0.1", "alice", false).ok());
  EXPECT_TRUE(Throttled(f.Login("ip:10.0.0.1", "alice", false)));
}

// N concurrent wrong logins: at most the limit of them may reach the hash, whatever
// their interleaving (the bug: all 200 were checked, the count was read before any
// failure was recorded).
void ConcurrentGuesses(bool same_address) {
  constexpr int kLimit = 20;
  constexpr int kThreads = 200;
  Fixture f(kLimit, kLimit);
  std::atomic<int> checked{0}, refused{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      const std::string address =
          same_address ? "ip:10.0.0.1" : "ip:10.1." + std::to_string(i);
      const std::string account = "alice";
      auto attempt = f.throttle->Begin(address, &account);
      if (!attempt.ok()) {
        EXPECT_TRUE(Throttled(attempt.status())) << attempt.status().ToString();
        ++refused;
        return;
      }
      ++checked;  // the hash would run here
      std::this_thread::sleep_for(1ms);
      attempt->Failed();
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_LE(checked.load(), kLimit);
  EXPECT_EQ(checked.load() + refused.load(), kThreads);
}

TEST(LoginThrottleTest, ConcurrentGuessesFromOneAddressRunAtMostTheLimit) {
  ConcurrentGuesses(true);
}

TEST(LoginThrottleTest, ConcurrentGuessesAtOneAccountRunAtMostTheLimit) {
  ConcurrentGuesses(false);
}

TEST(LoginThrottleTest, ConcurrentRightLoginsWaitForThoseInFlightInsteadOfFailing) {
  Fixture f(4, 4, 16384, /*max_wait=*/30s);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 40; ++i) {
    threads.emplace_back([&] {
      const std::string account = "alice";
      auto attempt = f.throttle->Begin("ip:10.0.0.1", &account);
      if (!attempt.ok()) return;
      std::this_thread::sleep_for(1ms);
      attempt->Succeeded();
      ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
}

TEST(LoginThrottleTest, MemoryIsBoundedByTheEntriesRemembered) {
  Fixture f(3, 3, /*max_entries=*/100);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(f.Login("ip:10.2." + std::to_string(i), "user" + std::to_string(i), false)
                    .ok());
  }
  EXPECT_LE(f.throttle->remembered_addresses(), 100u);
  EXPECT_LE(f.throttle->remembered_accounts(), 100u);
  // The most recent are the ones remembered.
  ASSERT_TRUE(f.Login("ip:10.2.999", "x", false).ok());
  ASSERT_TRUE(f.Login("ip:10.2.999", "x", false).ok());
  EXPECT_TRUE(Throttled(f.Login("ip:10.2.999", "x", false)));
  // Successes without failures leave nothing behind but the account's known address.
  Fixture g(3, 3);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(g.Login("ip:10.3.1", "alice", true).ok());
  EXPECT_EQ(g.throttle->remembered_addresses(), 0u);
  EXPECT_EQ(g.throttle->remembered_accounts(), 1u);
}

}  // namespace login_throttle_test
}  // namespace arrowport::auth
