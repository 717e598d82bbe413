#include "arrowport/config/config_keys.h"

#include "arrowport/config/backup_section.h"
#include "arrowport/config/cluster_section.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <regex>
#include <string>
#include <vector>

namespace arrowport::config {

arrow::Status KeyError(const std::string& source, const std::string& key,
                       const std::string& reason) {
  return arrow::Status::Invalid(source.empty() ? "config" : source, ": key '", key,
                                "': ", reason);
}

// yaml-cpp throws on as<>() of a non-scalar (BadConversion) and on operator[] of a
// scalar (BadSubscript). Node access below only reads Scalar() after IsScalar() and
// subscripts after IsMap(), so every malformed shape becomes a KeyError instead.
const char* Kind(const YAML::Node& node) {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.IsNull()) return "null";
  return "a scalar";
}

arrow::Result<std::string> KeyName(const YAML::Node& key, const std::string& source,
                                   const std::string& parent) {
  if (!key.IsScalar()) {
    return KeyError(source, parent.empty() ? "(top level)" : parent,
                    std::string("a key must be a plain name, got ") + Kind(key));
  }
  return key.Scalar();
}

arrow::Result<int64_t> ParseInt(const std::string& text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return arrow::Status::Invalid("'", text, "' is out of range");
  }
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return arrow::Status::Invalid("'", text, "' is not an integer");
  }
  return value;
}

arrow::Result<int64_t> ParseSize(const std::string& text) {
  size_t end = 0;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  if (end == 0) return arrow::Status::Invalid("'", text, "' is not a size (e.g. 512MB, 4GiB)");
  ARROW_ASSIGN_OR_RAISE(const int64_t count, ParseInt(text.substr(0, end)));
  size_t unit_start = end;
  while (unit_start < text.size() && text[unit_start] == ' ') ++unit_start;
  std::string unit = text.substr(unit_start);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::map<std::string, int64_t> kUnits = {
      {"", 1},          {"b", 1},
      {"kb", 1000},     {"mb", 1000000},           {"gb", 1000000000},
      {"tb", 1000000000000},
      {"kib", 1 << 10}, {"mib", 1 << 20},          {"gib", int64_t{1} << 30},
      {"tib", int64_t{1} << 40}};
  auto found = kUnits.find(unit);
  if (found == kUnits.end()) {
    return arrow::Status::Invalid("'", text, "': unknown size unit (KB, MB, GB, TB, KiB, MiB, "
                                  "GiB, TiB)");
  }
  if (count > std::numeric_limits<int64_t>::max() / found->second) {
    return arrow::Status::Invalid("'", text, "' is out of range");
  }
  return count * found->second;
}

arrow::Result<bool> ParseBool(const std::string& text) {
  std::string word = text;
  for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (word == "true" || word == "1" || word == "yes" || word == "on") return true;
  if (word == "false" || word == "0" || word == "no" || word == "off") return false;
  return arrow::Status::Invalid("'", text, "' is not a boolean (true or false)");
}

namespace {

// Durations are bounded so that adding them to a clock (in nanoseconds) cannot overflow.
constexpr int64_t kMaxSeconds = int64_t{365} * 24 * 3600;
constexpr int64_t kMiB = int64_t{1} << 20;

template <typename T>
IntegerKey Integer(T Config::*field, int64_t min, int64_t max, const char* hint = nullptr) {
  return {min, max, [field](const Config& c) -> int64_t { return c.*field; },
          [field](Config& c, int64_t v) { c.*field = static_cast<T>(v); }, hint};
}
template <typename T>
IntegerKey Limit(T Config::Limits::*field, int64_t min, int64_t max,
                 const char* hint = nullptr) {
  return {min, max, [field](const Config& c) -> int64_t { return c.limits.*field; },
          [field](Config& c, int64_t v) { c.limits.*field = static_cast<T>(v); }, hint};
}
IntegerKey Size(int64_t Config::*field, int64_t min, int64_t max, const char* hint) {
  IntegerKey key{min, max, [field](const Config& c) -> int64_t { return c.*field; },
                 [field](Config& c, int64_t v) { c.*field = v; }, hint};
  key.size = true;
  return key;
}
IntegerKey LimitSize(int64_t Config::Limits::*field, int64_t min, int64_t max,
                     const char* hint) {
  IntegerKey key = Limit(field, min, max, hint);
  key.size = true;
  return key;
}
IntegerKey SqlCap(int64_t Config::FlightSqlCaps::*field, int64_t max) {
  return {1, max, [field](const Config& c) -> int64_t { return c.flight_sql_caps.*field; },
          [field](Config& c, int64_t v) { c.flight_sql_caps.*field = v; }};
}
IntegerKey Port(Endpoint Config::*endpoint) {
  return {0, 65535, [endpoint](const Config& c) -> int64_t { return (c.*endpoint).port; },
          [endpoint](Config& c, int64_t v) { (c.*endpoint).port = static_cast<int>(v); }};
}

// The largest value of an unbounded key.
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

using KeyTable = std::map<std::string, IntegerKey>;

// flight.* and http.*: the listeners, their connections and request sizes.
KeyTable ListenerKeys() {
  return {
      {"flight.port", Port(&Config::flight)},
      {"http.port", Port(&Config::http)},
      {"http.max_body_bytes", Size(&Config::http_max_body_bytes, 1, kMax, "a size of at least 1 byte")},
      {"http.max_connections", Integer(&Config::http_max_connections, 1, 65536)},
      {"http.header_timeout_s", Integer(&Config::http_header_timeout_s, 1, kMaxSeconds)},
      {"http.read_timeout_s", Integer(&Config::http_read_timeout_s, 1, kMaxSeconds)},
      {"http.max_query_bytes",
       Size(&Config::http_max_query_bytes, 1024, int64_t{1} << 30, "1 KiB..1 GiB")},
      {"flight.max_query_bytes",
       Size(&Config::flight_max_query_bytes, 1024, int64_t{1} << 30, "1 KiB..1 GiB")},
      {"flight.max_endpoints", Integer(&Config::flight_max_endpoints, 0, 1024)},
      {"flight.endpoint_rows", Integer(&Config::flight_endpoint_rows, 1, kMax)},
      {"flight.handshake_timeout_s",
       Integer(&Config::flight_handshake_timeout_s, 1, 3600)},
  };
}

// flight.sql_*: Flight SQL's sessions, statements and transactions.
KeyTable FlightSqlKeys() {
  return {
      {"flight.sql_idle_timeout_s",
       Integer(&Config::flight_sql_idle_timeout_s, 1, int64_t{7} * 86400)},
      {"flight.sql_held_transaction_timeout_s",
       Integer(&Config::flight_sql_held_transaction_timeout_s, 1, int64_t{7} * 86400)},
      {"flight.sql_busy_timeout_ms",
       Integer(&Config::flight_sql_busy_timeout_ms, 0, int64_t{3600} * 1000)},
      {"flight.sql_max_statements_per_session",
       SqlCap(&Config::FlightSqlCaps::statements_per_session, 1 << 20)},
      {"flight.sql_max_statements", SqlCap(&Config::FlightSqlCaps::statements, 1 << 20)},
      {"flight.sql_max_transactions_per_session",
       SqlCap(&Config::FlightSqlCaps::transactions_per_session, 1 << 16)},
      {"flight.sql_max_transactions", SqlCap(&Config::FlightSqlCaps::transactions, 1 << 16)},
      {"flight.sql_max_held_bytes", SqlCap(&Config::FlightSqlCaps::held_bytes, kMax)},
  };
}

// duckdb.*, storage.*, compression.*, defaults.*: the database and its tables.
KeyTable StorageKeys() {
  return {
      // More threads than any machine has cores only costs stacks and contention.
      {"duckdb.threads", Integer(&Config::duckdb_threads, 0, 1024, "0..1024 (0 = all cores)")},
      {"duckdb.checkpoint_interval_s", Integer(&Config::checkpoint_interval_s, 0, kMaxSeconds)},
      {"duckdb.checkpoint_wal_bytes",
       Size(&Config::checkpoint_wal_bytes, int64_t{1} << 20, int64_t{64} << 30, "1 MiB..64 GiB")},
      {"storage.min_free_mb",
       Integer(&Config::storage_min_free_mb, 0, int64_t{1} << 30, "0..1073741824 (MiB; 0 = off)")},
      // zstd's levels; lz4 clamps anything above its own maximum (12).
      {"compression.level", Integer(&Config::compression_level, 1, 22)},
      {"defaults.chunk_size", Integer(&Config::default_chunk_size, 1, kMax)},
  };
}

// limits.*: what calls, users and requests may take.
KeyTable LimitKeys() {
  return {
      {"limits.max_query_memory",
       LimitSize(&Config::Limits::max_query_memory, 0, kMax, "a size (0 = derived)")},
      {"limits.max_request_memory",
       LimitSize(&Config::Limits::max_request_memory, 0, kMax,
                 "a size (0 = derived)")},
      {"limits.max_batch_bytes",
       LimitSize(&Config::Limits::max_batch_bytes, kMiB, int64_t{16} << 30, "1 MiB..16 GiB")},
      {"limits.max_concurrent_requests",
       Limit(&Config::Limits::max_concurrent_requests, 1, 100000)},
      {"limits.query_timeout_s", Limit(&Config::Limits::query_timeout_s, 0, kMaxSeconds)},
      {"limits.shutdown_grace_s", Limit(&Config::Limits::shutdown_grace_s, 0, kMaxSeconds)},
      {"limits.max_concurrent_per_user",
       Limit(&Config::Limits::max_concurrent_per_user, 0, 100000, "0..100000 (0 = off)")},
      {"limits.requests_per_second_per_user",
       Limit(&Config::Limits::requests_per_second_per_user, 0, 1000000, "0..1000000 (0 = off)")},
      {"limits.request_burst_per_user",
       Limit(&Config::Limits::request_burst_per_user, 0, 1000000,
             "0..1000000 (0 = requests_per_second_per_user)")},
      {"limits.max_connections_per_address",
       Limit(&Config::Limits::max_connections_per_address, 0, 1 << 20,
             "0..1048576 (0 = no cap)")},
      {"limits.idle_timeout_s",
       Limit(&Config::Limits::idle_timeout_s, 0, kMaxSeconds, "0 (off) or seconds")},
      {"limits.write_stall_timeout_s",
       Limit(&Config::Limits::write_stall_timeout_s, 0, kMaxSeconds, "0 (off) or seconds")},
      {"limits.max_write_factor", Limit(&Config::Limits::max_write_factor, 1, 1000000)},
      {"limits.max_write_floor_rows",
       Limit(&Config::Limits::max_write_floor_rows, 0, kMax)},
      {"limits.max_write_floor_bytes",
       LimitSize(&Config::Limits::max_write_floor_bytes, 0, kMax, "a size")},
  };
}

// auth.*, metrics.*, s3.*.
KeyTable AuthMetricsAndStoreKeys() {
  return {
      {"auth.token_ttl_s",
       {1, kMaxSeconds, [](const Config& c) -> int64_t { return c.auth.token_ttl_s; },
        [](Config& c, int64_t v) { c.auth.token_ttl_s = v; }}},
      {"auth.max_failed_logins_per_address",
       {0, 1000000,
        [](const Config& c) -> int64_t { return c.auth.max_failed_logins_per_address; },
        [](Config& c, int64_t v) { c.auth.max_failed_logins_per_address = v; },
        "0..1000000 (0 = off)"}},
      {"auth.max_failed_logins_per_account",
       {0, 1000000,
        [](const Config& c) -> int64_t { return c.auth.max_failed_logins_per_account; },
        [](Config& c, int64_t v) { c.auth.max_failed_logins_per_account = v; },
        "0..1000000 (0 = off)"}},
      {"auth.failed_login_window_s",
       {1, 86400, [](const Config& c) -> int64_t { return c.auth.failed_login_window_s; },
        [](Config& c, int64_t v) { c.auth.failed_login_window_s = v; }}},
      {"metrics.max_stream_labels",
       {1, 100000, [](const Config& c) -> int64_t { return c.metrics.max_stream_labels; },
        [](Config& c, int64_t v) { c.metrics.max_stream_labels = v; }}},
      {"lake.read_part_mb",
       {1, 1024, [](const Config& c) -> int64_t { return c.lake_read_part_mb; },
        [](Config& c, int64_t v) { c.lake_read_part_mb = v; }}},
      {"s3.part_mb",
       {5, 5120, [](const Config& c) -> int64_t { return c.s3.part_mb; },
        [](Config& c, int64_t v) { c.s3.part_mb = v; }}},
      {"s3.timeout_ms",
       {100, 600000, [](const Config& c) -> int64_t { return c.s3.timeout_ms; },
        [](Config& c, int64_t v) { c.s3.timeout_ms = v; }}},
      {"s3.call_timeout_ms",
       {1000, int64_t{3600} * 1000,
        [](const Config& c) -> int64_t { return c.s3.call_timeout_ms; },
        [](Config& c, int64_t v) { c.s3.call_timeout_ms = v; }}},
  };
}
}  // namespace

const std::map<std::string, IntegerKey>& IntegerKeys() {
  static const KeyTable keys = [] {
    KeyTable all;
    for (KeyTable part : {ListenerKeys(), FlightSqlKeys(), StorageKeys(), LimitKeys(),
                          AuthMetricsAndStoreKeys(), BackupIntegerKeys(),
                          ClusterIntegerKeys()}) {
      all.merge(part);
      // A key in two tables would keep the first one's range without a word.
      if (!part.empty()) std::abort();
    }
    return all;
  }();
  return keys;
}

arrow::Status CheckRange(const IntegerKey& key, int64_t value) {
  if (value >= key.min && value <= key.max) return arrow::Status::OK();
  if (key.hint) return arrow::Status::Invalid("must be ", key.hint, ", got ", value);
  if (key.max == std::numeric_limits<int64_t>::max()) {
    return arrow::Status::Invalid("must be at least ", key.min, ", got ", value);
  }
  return arrow::Status::Invalid("must be ", key.min, "..", key.max, ", got ", value);
}

namespace {

Setter StringSetter(std::string Config::*field) {
  return [field](Config& c, const std::string& v) {
    c.*field = v;
    return arrow::Status::OK();
  };
}

// `field` names the flag to set: a function of the config, as flags sit in nested sections.
template <typename Field>
Setter BoolSetter(Field field) {
  return [field](Config& c, const std::string& v) {
    ARROW_ASSIGN_OR_RAISE(field(c), ParseBool(v));
    return arrow::Status::OK();
  };
}

// One of `words`, stored as written; `field` as for BoolSetter.
template <typename Field>
Setter WordSetter(Field field, std::vector<std::string> words) {
  return [field, words = std::move(words)](Config& c, const std::string& v) {
    if (std::find(words.begin(), words.end(), v) != words.end()) {
      field(c) = v;
      return arrow::Status::OK();
    }
    std::string choices;
    for (size_t i = 0; i < words.size(); ++i) {
      choices += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
    }
    return arrow::Status::Invalid("must be ", choices, ", got '", v, "'");
  };
}

// DuckDB takes a negative size ("-1", "-5GB"), "none" or "null" as no limit at all (an
// operator's typo would remove the cap the server's memory contract rests on), and drops
// what follows a blank after the unit ("1GB garbage" is 1GB). So: empty (the server's
// default), or a number (an exponent allowed, as DuckDB reads 1e3MB; not 1e+3MB) and at
// most one word for its unit, which DuckDB judges when the database opens.
bool IsSize(const std::string& value) {
  static const std::regex size(
      R"(|[ \t]*(\d+\.?\d*|\.\d+)([eE]-?\d+)?[ \t]*[A-Za-z%]*[ \t]*)");
  return std::regex_match(value, size);
}

arrow::Status SetMemoryLimit(Config& c, const std::string& value) {
  if (!IsSize(value)) {
    return arrow::Status::Invalid("must be a size such as 2GB or 512MiB, got '", value,
                                  "'");
  }
  c.duckdb_memory_limit = value;
  return arrow::Status::OK();
}

Setter HostSetter(Endpoint Config::*endpoint) {
  return [endpoint](Config& c, const std::string& v) {
    (c.*endpoint).host = v;
    return arrow::Status::OK();
  };
}

}  // namespace

const std::map<std::string, Setter>& ScalarKeys() {
  static const std::map<std::string, Setter> keys = [] {
    std::map<std::string, Setter> k{
        {"db_path", StringSetter(&Config::db_path)},
        {"flight.host", HostSetter(&Config::flight)},
        {"http.host", HostSetter(&Config::http)},
        {"tls.cert", [](Config& c, const std::string& v) { c.tls.cert = v; return arrow::Status::OK(); }},
        {"tls.key", [](Config& c, const std::string& v) { c.tls.key = v; return arrow::Status::OK(); }},
        {"tls.client_ca", [](Config& c, const std::string& v) { c.tls.client_ca = v; return arrow::Status::OK(); }},
        {"duckdb.memory_limit", SetMemoryLimit},
        {"duckdb.late_materialization",
         BoolSetter([](Config& c) -> bool& { return c.duckdb_late_materialization; })},
        {"compression.algorithm", StringSetter(&Config::compression_algorithm)},
        {"http.compression",
         WordSetter([](Config& c) -> std::string& { return c.http_compression; },
                    {"auto", "always", "never"})},
        {"auth.enabled",
         BoolSetter([](Config& c) -> std::optional<bool>& { return c.auth.enabled; })},
        {"auth.token_secret",
         [](Config& c, const std::string& v) {
           c.auth.token_secret = v;
           return arrow::Status::OK();
         }},
        {"metrics.enabled", BoolSetter([](Config& c) -> bool& { return c.metrics.enabled; })},
        {"metrics.host",
         [](Config& c, const std::string& v) {
           c.metrics.host = v;
           return arrow::Status::OK();
         }},
        // Unset means no listener of its own, so not an IntegerKey (which always has a value).
        {"metrics.port",
         [](Config& c, const std::string& v) {
           ARROW_ASSIGN_OR_RAISE(const int64_t port, ParseInt(v));
           if (port < 0 || port > 65535) {
             return arrow::Status::Invalid("must be 0..65535, got ", port);
           }
           c.metrics.port = static_cast<int>(port);
           return arrow::Status::OK();
         }},
        {"s3.endpoint", [](Config& c, const std::string& v) {
           if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
             return arrow::Status::Invalid("must start with http:// or https://");
           }
           c.s3.endpoint = v;
           return arrow::Status::OK();
         }},
        {"s3.region", [](Config& c, const std::string& v) { c.s3.region = v; return arrow::Status::OK(); }},
        {"s3.url_style",
         WordSetter([](Config& c) -> std::string& { return c.s3.url_style; }, {"path", "vhost"})},
        {"s3.conditional_writes",
         WordSetter([](Config& c) -> std::string& { return c.s3.conditional_writes; },
                    {"probe", "trust"})},
        {"s3.ca_file", [](Config& c, const std::string& v) { c.s3.ca_file = v; return arrow::Status::OK(); }},
        {"s3.access_key_id", [](Config& c, const std::string& v) { c.s3.access_key_id = v; return arrow::Status::OK(); }},
        {"s3.secret_access_key", [](Config& c, const std::string& v) { c.s3.secret_access_key = v; return arrow::Status::OK(); }},
        {"s3.session_token", [](Config& c, const std::string& v) { c.s3.session_token = v; return arrow::Status::OK(); }},
        {"lake.commit_key_file", StringSetter(&Config::lake_commit_key_file)},
        {"log.level", StringSetter(&Config::log_level)},
        {"log.format", StringSetter(&Config::log_format)},
    };
    for (auto& [name, setter] : BackupSectionKeys()) k[name] = std::move(setter);
    for (auto& [name, setter] : ClusterSectionKeys()) k[name] = std::move(setter);
    for (const auto& [name, integer] : IntegerKeys()) {
      k[name] = [integer = &integer](Config& c, const std::string& v) {
        ARROW_ASSIGN_OR_RAISE(auto n, integer->size ? ParseSize(v) : ParseInt(v));
        ARROW_RETURN_NOT_OK(CheckRange(*integer, n));
        integer->set(c, n);
        return arrow::Status::OK();
      };
    }
    return k;
  }();
  return keys;
}

namespace {

// Seed projects' spellings, accepted as aliases of canonical keys.
const std::map<std::string, std::string>& Aliases() {
  static const std::map<std::string, std::string> aliases{
      {"api.host", "http.host"},          {"api.port", "http.port"},
      {"duckdb.path", "db_path"},         {"duckdb_extensions", "duckdb.extensions"},
      {"enable_metrics", "metrics.enabled"}, {"metrics_port", "metrics.port"},
  };
  return aliases;
}

}  // namespace

std::string Canonical(const std::string& key) {
  auto it = Aliases().find(key);
  return it == Aliases().end() ? key : it->second;
}

}  // namespace arrowport::config
