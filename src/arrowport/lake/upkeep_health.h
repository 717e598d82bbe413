#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "arrow/status.h"

namespace arrowport::lake {

/// How a table's upkeep has gone (UpkeepHealth::Report).
struct UpkeepReport {
  int64_t failures = 0;           ///< rounds that failed since the process started
  int64_t failures_in_a_row = 0;  ///< since the last round that succeeded
  std::string last_error;         ///< the last failure's ("" once a round succeeds)
  /// Milliseconds until compaction and checkpoints may run again (0: at the next round).
  int64_t retry_in_ms = 0;
  /// Why the last compaction left small files it could have merged (too little free
  /// space to finish the rewrite); "" when it did not.
  std::string compaction_deferred;
  /// The most one rewrite takes (bytes of input files) since a rewrite failed; 0: only
  /// target_file_mb bounds it.
  int64_t rewrite_limit_bytes = 0;
};

/// \brief One table's upkeep record: failures counted, and the steps that write
/// (compaction, checkpoints) backed off exponentially after a failed round, so that a
/// store that is full or failing is not written to again and again. After n failures
/// in a row they wait `interval` x 2^n, at most kMaxBackoff (or `interval` if longer); a
/// round that succeeds ends the backoff. Cleanup (vacuum) is not backed off: it only
/// frees space. Thread-safe.
class UpkeepHealth {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kMaxBackoff{3600};

  /// Whether compaction and checkpoints may run at `now` (no backoff pending).
  bool WritesDue(Clock::time_point now) const;
  /// A round failed with `why`; the writing steps wait as above, `interval` being the
  /// table's upkeep period (compaction_interval_s, at least a second).
  void Failed(const arrow::Status& why, std::chrono::seconds interval,
              Clock::time_point now);
  /// A round ran every step that was due and each succeeded.
  void Succeeded();
  /// The last compaction left small files because the rewrite would not fit (`why`), or
  /// did not ("").
  void SetCompactionDeferred(std::string why);
  /// \brief A store that cannot say how much room it has (S3) can still show it has too
  /// little: a rewrite of `input_bytes` failed, so the next takes at most half of it (at
  /// least the two smallest files). Each rewrite that lands doubles the limit again,
  /// until it reaches `target_bytes` and ends.
  void RewriteFailed(int64_t input_bytes);
  void RewriteLanded(int64_t target_bytes);
  /// The limit on one rewrite's input (none: only target_file_mb).
  std::optional<int64_t> RewriteLimit() const;
  UpkeepReport Report(Clock::time_point now) const;

 private:
  mutable std::mutex mutex_;  // guards everything below
  int64_t failures_ = 0;
  int64_t failures_in_a_row_ = 0;
  std::string last_error_;
  Clock::time_point retry_at_{};
  std::string compaction_deferred_;
  int64_t rewrite_limit_ = 0;  // 0: none
};

}  // namespace arrowport::lake
