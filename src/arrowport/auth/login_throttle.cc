#include "arrowport/auth/login_throttle.h"

#include <algorithm>
#include <deque>
#include <list>
#include <unordered_map>
#include <utility>
#include <vector>

#include "arrowport/common/status_detail.h"

namespace arrowport::auth {

namespace {

using Clock = LoginThrottle::Clock;

// Addresses an account remembers having logged in from (the most recent ones).
constexpr size_t kProvenPerAccount = 8;
// What a refusal quotes of a user name (names are up to a header long).
constexpr size_t kQuotedName = 64;

struct Failure {
  uint64_t other;  // the account (in an address's entry) or the address (in an account's)
  Clock::time_point at;
};

struct Entry {
  std::deque<Failure> failures;  // oldest first, all within the window
  int in_flight = 0;             // attempts reserved and not ended
  // Accounts only: addresses that logged in as it, and when they last did.
  std::vector<std::pair<uint64_t, Clock::time_point>> proven;
  std::list<uint64_t>::iterator place;  // in Table::order_
};

bool Idle(const Entry& entry) {
  return entry.failures.empty() && entry.in_flight == 0 && entry.proven.empty();
}

// Entries by key, the least recently used forgotten first when `capacity` is reached
// (never one with an attempt in flight: its end must find it).
class Table {
 public:
  explicit Table(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

  Entry* Find(uint64_t key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second.place);
    return &it->second;
  }

  Entry& Get(uint64_t key) {
    if (Entry* found = Find(key)) return *found;
    if (entries_.size() >= capacity_) EvictOne();
    order_.push_front(key);
    Entry& entry = entries_[key];
    entry.place = order_.begin();
    return entry;
  }

  void EraseIfIdle(uint64_t key) {
    auto it = entries_.find(key);
    if (it == entries_.end() || !Idle(it->second)) return;
    order_.erase(it->second.place);
    entries_.erase(it);
  }

  size_t size() const { return entries_.size(); }

 private:
  void EvictOne() {
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
      auto found = entries_.find(*it);
      if (found->second.in_flight > 0) continue;
      order_.erase(found->second.place);
      entries_.erase(found);
      return;
    }
  }

  const size_t capacity_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> order_;  // most recently used first
};

uint64_t KeyOf(const std::string& text) { return std::hash<std::string>{}(text); }

int Used(const Entry* entry) {
  return entry == nullptr ? 0
                          : static_cast<int>(entry->failures.size()) + entry->in_flight;
}

bool Proven(const Entry* account, uint64_t address) {
  if (account == nullptr) return false;
  return std::any_of(account->proven.begin(), account->proven.end(),
                     [address](const auto& pair) { return pair.first == address; });
}

// Failures of `other` are forgiven: a success proved them typing errors.
void Forgive(Entry& entry, uint64_t other) {
  std::erase_if(entry.failures, [other](const Failure& f) { return f.other == other; });
}

void Prove(Entry& account, uint64_t address, Clock::time_point now) {
  std::erase_if(account.proven,
                [address](const auto& pair) { return pair.first == address; });
  if (account.proven.size() >= kProvenPerAccount) {
    account.proven.erase(account.proven.begin());
  }
  account.proven.emplace_back(address, now);
}

void Record(Entry& entry, uint64_t other, Clock::time_point now, int limit) {
  while (!entry.failures.empty() && static_cast<int>(entry.failures.size()) >= limit) {
    entry.failures.pop_front();
  }
  entry.failures.push_back({other, now});
}

int64_t SecondsUntil(Clock::time_point when, Clock::time_point now) {
  const auto left = std::chrono::ceil<std::chrono::seconds>(when - now).count();
  return std::max<int64_t>(1, left);
}

std::string Quoted(const std::string& name) {
  if (name.size() <= kQuotedName) return "'" + name + "'";
  return "'" + name.substr(0, kQuotedName) + "...'";
}

}  // namespace

struct LoginThrottle::Tables {
  Table addresses;
  Table accounts;
  void Prune(Entry* entry, Clock::time_point now, const Options& options) const {
    if (entry == nullptr) return;
    auto& failures = entry->failures;
    while (!failures.empty() && failures.front().at + options.window <= now) {
      failures.pop_front();
    }
    std::erase_if(entry->proven, [&](const auto& pair) {
      return pair.second + options.proven_for <= now;
    });
  }
};

LoginThrottle::LoginThrottle(Options options)
    : options_(std::move(options)),
      tables_(std::make_unique<Tables>(
          Tables{Table(options_.max_entries), Table(options_.max_entries)})) {}

LoginThrottle::~LoginThrottle() = default;

LoginThrottle::Clock::time_point LoginThrottle::Now() const {
  return options_.clock ? options_.clock() : Clock::now();
}

arrow::Result<LoginThrottle::Attempt> LoginThrottle::Begin(const std::string& address,
                                                           const std::string* account) {
  const uint64_t address_key = KeyOf(address);
  const uint64_t account_key = account != nullptr ? KeyOf(*account) : 0;
  const int per_address = options_.per_address;
  const int per_account = options_.per_account;
  const auto give_up = Clock::now() + options_.max_wait;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    const auto now = Now();
    Entry* from = per_address > 0 ? tables_->addresses.Find(address_key) : nullptr;
    Entry* to = nullptr;
    if (account != nullptr && per_account > 0) to = tables_->accounts.Find(account_key);
    tables_->Prune(from, now, options_);
    tables_->Prune(to, now, options_);
    // An address that logged in as this account is judged by its own count alone.
    const bool count_account =
        account != nullptr && per_account > 0 && !Proven(to, address_key);
    if (from != nullptr && static_cast<int>(from->failures.size()) >= per_address) {
      const int64_t wait = SecondsUntil(from->failures.front().at + options_.window, now);
      return RateLimited(wait, "too many failed logins from ", address, " (", per_address,
                         " in ", options_.window.count(),
                         " s, auth.max_failed_logins_per_address); retry after ", wait,
                         " s");
    }
    if (count_account && to != nullptr &&
        static_cast<int>(to->failures.size()) >= per_account) {
      const int64_t wait = SecondsUntil(to->failures.front().at + options_.window, now);
      return RateLimited(wait, "too many failed logins as user ", Quoted(*account), " (",
                         per_account, " in ", options_.window.count(),
                         " s, auth.max_failed_logins_per_account); retry after ", wait,
                         " s, or use a token");
    }
    // Room for one more whatever the attempts in flight turn out to be: only then may a
    // hash be computed.
    const bool room = (per_address <= 0 || Used(from) < per_address) &&
                      (!count_account || Used(to) < per_account);
    if (room) {
      if (per_address > 0) ++tables_->addresses.Get(address_key).in_flight;
      if (count_account) ++tables_->accounts.Get(account_key).in_flight;
      return Attempt(this, address_key, account_key, account != nullptr, count_account);
    }
    if (Clock::now() >= give_up) {
      return RateLimited(1, "too many failed logins or logins in progress from ", address,
                         " (auth.max_failed_logins_per_address / _per_account count "
                         "logins until they end); retry after 1 s");
    }
    ended_.wait_until(lock, give_up);
  }
}

void LoginThrottle::End(const Attempt& attempt, Attempt::Outcome outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = Now();
  if (options_.per_address > 0) {
    if (Entry* from = tables_->addresses.Find(attempt.address_)) {
      from->in_flight = std::max(0, from->in_flight - 1);
      if (outcome == Attempt::Outcome::kFailed) {
        Record(*from, attempt.account_, now, options_.per_address);
      } else if (outcome == Attempt::Outcome::kSucceeded && attempt.has_account_) {
        Forgive(*from, attempt.account_);
      }
      tables_->addresses.EraseIfIdle(attempt.address_);
    }
  }
  if (attempt.has_account_ && options_.per_account > 0) {
    Entry* to = tables_->accounts.Find(attempt.account_);
    if (to != nullptr && attempt.account_counted_) {
      to->in_flight = std::max(0, to->in_flight - 1);
      if (outcome == Attempt::Outcome::kFailed) {
        Record(*to, attempt.address_, now, options_.per_account);
      }
    }
    if (outcome == Attempt::Outcome::kSucceeded) {
      Entry& account = to != nullptr ? *to : tables_->accounts.Get(attempt.account_);
      Forgive(account, attempt.address_);
      Prove(account, attempt.address_, now);
    }
    tables_->accounts.EraseIfIdle(attempt.account_);
  }
  ended_.notify_all();
}

size_t LoginThrottle::remembered_addresses() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return tables_->addresses.size();
}

size_t LoginThrottle::remembered_accounts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return tables_->accounts.size();
}

LoginThrottle::Attempt::Attempt(LoginThrottle* throttle, uint64_t address,
                                uint64_t account, bool has_account, bool account_counted)
    : throttle_(throttle),
      address_(address),
      account_(account),
      has_account_(has_account),
      account_counted_(account_counted) {}

LoginThrottle::Attempt::Attempt(Attempt&& other) noexcept { *this = std::move(other); }

LoginThrottle::Attempt& LoginThrottle::Attempt::operator=(Attempt&& other) noexcept {
  if (this != &other) {
    End(Outcome::kAbandoned);
    throttle_ = std::exchange(other.throttle_, nullptr);
    address_ = other.address_;
    account_ = other.account_;
    has_account_ = other.has_account_;
    account_counted_ = other.account_counted_;
  }
  return *this;
}

LoginThrottle::Attempt::~Attempt() { End(Outcome::kAbandoned); }

void LoginThrottle::Attempt::Failed() { End(Outcome::kFailed); }
void LoginThrottle::Attempt::Succeeded() { End(Outcome::kSucceeded); }

void LoginThrottle::Attempt::End(Outcome outcome) {
  if (throttle_ == nullptr) return;
  std::exchange(throttle_, nullptr)->End(*this, outcome);
}

}  // namespace arrowport::auth
