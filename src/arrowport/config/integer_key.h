#pragma once

#include <cstdint>
#include <functional>

#include "arrowport/config/config.h"

// What an integer config key is (internal to config/): config_keys.cc parses and checks
// every one; a section's own file may contribute its keys (ClusterIntegerKeys).
namespace arrowport::config {

/// An integer key: its bounds and where it lives. The range is checked on the int64 value
/// before it is narrowed into the field, both when parsing and in Validate().
struct IntegerKey {
  int64_t min;
  int64_t max;
  std::function<int64_t(const Config&)> get;
  std::function<void(Config&, int64_t)> set;
  const char* hint = nullptr;  // the range in words, when the numbers are unreadable
  bool size = false;           // a byte size: also "512MB", "4GiB", ...
};

}  // namespace arrowport::config
