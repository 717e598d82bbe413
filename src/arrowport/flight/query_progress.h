#pragma once

// Internal to the Flight adapter: the running queries whose client asks how far they have
// come (the `query_progress` action).

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "arrow/result.h"
#include "arrowport/common/call_context.h"

namespace arrowport::flight {

/// \brief The calls (DoGet) whose client sent a progress key, the header kHeader: a
/// random word of its own, which its `query_progress` action names while it waits for
/// the first rows. A key is found for the user who sent it only. Thread-safe.
class QueryProgressRegistry {
 public:
  /// The DoGet header carrying the key: 8 to 64 letters, digits, '-' or '_'.
  static constexpr const char* kHeader = "x-arrowport-progress-key";

  /// Whether `key` is a key's form.
  static bool ValidKey(const std::string& key);

  /// Lists `progress` (marked watched) under (`user`, `key`) until the returned holder
  /// goes; a key listed twice names the newer call.
  std::shared_ptr<void> List(const std::string& user, const std::string& key,
                             std::shared_ptr<CallProgress> progress);

  /// The `query_progress` action's answer for `user` and its `body`, {"key": KEY}, JSON:
  /// {"running": true, "percent": 42.5 (null: no estimate yet), "rows": 0} while the call
  /// runs, {"running": false} when there is none (not begun, ended, another user's).
  /// Invalid for another body.
  arrow::Result<std::string> Answer(const std::string& user, const std::string& body);

 private:
  class Listing;
  using Key = std::pair<std::string, std::string>;  // (user, key)
  std::mutex mutex_;  // guards listed_
  std::map<Key, std::weak_ptr<CallProgress>> listed_;
};

}  // namespace arrowport::flight
