#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/config/config.h"
#include "arrowport/config/integer_key.h"

namespace YAML {
class Node;
}

// The table of scalar config keys (internal to config/): how each is parsed, its bounds,
// and the seed projects' aliases. YAML and ARROWPORT_* environment values share it.
namespace arrowport::config {

/// Every config error: "<source>: key '<a.b>': <reason>", so a user finds the line to fix.
arrow::Status KeyError(const std::string& source, const std::string& key,
                       const std::string& reason);
/// What a YAML node is, in words ("a mapping", "a list", "null", "a scalar").
const char* Kind(const YAML::Node& node);
/// The text of a mapping key under `parent`; keys that are lists, mappings or null are
/// refused.
arrow::Result<std::string> KeyName(const YAML::Node& key, const std::string& source,
                                   const std::string& parent);

/// A decimal int64; out-of-range and trailing text are errors.
arrow::Result<int64_t> ParseInt(const std::string& text);
/// true/1/yes/on or false/0/no/off.
arrow::Result<bool> ParseBool(const std::string& text);

/// A byte size: a decimal count of bytes, or a number with a unit (KB, MB, GB, TB: 1000s;
/// KiB, MiB, GiB, TiB: 1024s; case-insensitive, spaces allowed before the unit).
arrow::Result<int64_t> ParseSize(const std::string& text);

/// Integer keys by canonical name.
const std::map<std::string, IntegerKey>& IntegerKeys();
/// OK when `value` is within the key's bounds, else "must be min..max, got value".
arrow::Status CheckRange(const IntegerKey& key, int64_t value);

/// Sets one scalar key from its text; the error says why the value is refused.
using Setter = std::function<arrow::Status(Config&, const std::string&)>;
/// Every scalar key (integers included) by canonical name.
const std::map<std::string, Setter>& ScalarKeys();

/// The canonical name of `key` (seed aliases such as api.port -> http.port).
std::string Canonical(const std::string& key);

/// The keys that hold more than one value (transfer.allowed_peers, auth.users, ...).
const std::vector<std::string>& CompositeKeys();
/// Sets a composite key from an environment variable (`variable` names it in errors): a
/// list of strings from a comma-separated value, checked as the file's list is; the
/// keys only a config file can spell (auth.users, transfer.peers, duckdb.init_sql,
/// whose SQL holds commas) are refused.
arrow::Status SetCompositeFromEnvironment(const std::string& key, const std::string& value,
                                          const std::string& variable, Config* config);

}  // namespace arrowport::config
