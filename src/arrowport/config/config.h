#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arrow/result.h"
#include "arrowport/common/principal.h"

namespace arrowport::config {

/// How an ingest request is committed (design section 4).
enum class CommitMode { kPerRequest, kPerBatch };
/// What happens when incoming batches do not match the target table.
enum class SchemaPolicy { kStrict, kAddColumns, kIgnoreExtra };

const char* ToString(CommitMode mode);
const char* ToString(SchemaPolicy policy);
arrow::Result<CommitMode> ParseCommitMode(const std::string& text);
arrow::Result<SchemaPolicy> ParseSchemaPolicy(const std::string& text);

/// Where a stream's rows land: a DuckDB table (default) or a Delta Lake table.
enum class Sink { kTable, kLake };

/// The format of a lake table.
enum class LakeFormat { kDelta, kDuckLake };

/// A lake sink: a Delta Lake table on S3 or in a directory (streams.NAME.lake), or a
/// table of a DuckLake (streams.NAME.ducklake: its catalog in SQLite or PostgreSQL, its
/// Parquet files under the lake's data path).
struct LakeConfig {
  LakeFormat format = LakeFormat::kDelta;
  /// The table's folder: "s3://bucket/prefix" or "file:///abs/dir" (DuckLake: the data
  /// path's DATA_PATH/SCHEMA/TABLE/, made from the settings below).
  std::string url;
  /// DuckLake: "sqlite:PATH" or "postgres:CONNINFO"; the data path ("/abs/dir/" or
  /// "s3://bucket/prefix/", ending in '/', as the catalog records it); the table's
  /// schema and name.
  std::string catalog;
  std::string data_path;
  std::string schema = "main";
  std::string table;
  /// DuckLake: upkeep merges small files with adjacent row ids (off by default: a DuckDB
  /// DELETE racing a merge is settled by DuckDB's conflict rules, which may apply it to
  /// the file the merge replaced).
  bool merge_small_files = false;
  std::vector<std::string> partition_by;  ///< hive-style partition columns of a new table
  int64_t target_file_mb = 128;           ///< data files roll over (and compact) to this size
  std::string compression = "zstd";       ///< zstd | snappy | gzip | lz4 | none
  /// Parquet's delta encoding for integer columns where it pays; false: dictionary and
  /// plain only, for readers older than Spark 3.3 and Polars 1.0.
  bool delta_encodings = true;
  int64_t checkpoint_interval = 10;       ///< a Parquet checkpoint every N commits; 0: none
  int64_t retention_s = 7 * 86400;        ///< vacuum deletes removed and orphaned files older
  int64_t compaction_interval_s = 60;     ///< small files rewritten this often; 0: never
  int64_t max_commit_attempts = 100;      ///< lost put-if-absent races before giving up
  int64_t refresh_ms = 1000;              ///< how stale other nodes' commits may be to reads

  bool operator==(const LakeConfig&) const = default;
};

/// Routing of one named stream to a DuckDB table or a lake.
struct StreamConfig {
  std::string target_table;  ///< empty: the stream's own name
  int64_t chunk_size = 122880;
  SchemaPolicy schema_policy = SchemaPolicy::kStrict;
  CommitMode commit = CommitMode::kPerRequest;
  std::string compression = "none";
  /// SQL over `input` applied to every request's batches while they stream, before the
  /// schema policy (e.g. "SELECT *, now() AS received_at FROM input"); empty: none.
  std::string transform;
  Sink sink = Sink::kTable;
  LakeConfig lake;  ///< when sink is kLake
};

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 0;
};

/// Orders names as DuckDB compares identifiers: ASCII letters without case.
struct FoldedNameLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};

/// The whole server configuration. Plain data: copied freely, validated by Load().
struct Config {
  std::string source;  ///< file it came from, for messages ("" = defaults only)
  /// Keys set over the file by an ARROWPORT_* variable or a flag, with where from
  /// ("environment ARROWPORT_HTTP_HOST", "flag --http-port"): an error names that.
  std::map<std::string, std::string> set_over_file;
  /// Where `key`'s value came from, for messages: set_over_file's word, else the file.
  std::string SourceOf(const std::string& key) const;
  /// ARROWPORT_* environment variables that look like a setting (a section's prefix, such
  /// as ARROWPORT_LIMITS_) and name none: a typo the server warns of, then ignores.
  std::vector<std::string> unknown_environment;
  /// The file's keys that hold a secret (config_secrets.h): then the file must not be
  /// readable by other users. Set by LoadText from the file alone.
  std::vector<std::string> secrets_in_file;
  /// Non-empty when a group (or users an ACL names) may read those secrets: logged at
  /// start and at each reload (config_secrets.h).
  std::string exposure_warning;
  std::string db_path = "arrowport.duckdb";
  Endpoint flight{"127.0.0.1", 8815};
  Endpoint http{"127.0.0.1", 8888};
  int64_t http_max_body_bytes = int64_t{4} << 30;
  /// TLS for both listeners (design section 7); empty cert: plaintext.
  struct Tls {
    std::string cert;       ///< PEM certificate chain file
    std::string key;        ///< PEM private key file
    std::string client_ca;  ///< PEM CA file: when set, clients must present a certificate
  } tls;
  int duckdb_threads = 0;  ///< 0 = DuckDB's default (all cores)
  std::string duckdb_memory_limit;
  /// DuckDB's late materialization (storage::DatabaseOptions::late_materialization).
  bool duckdb_late_materialization = false;
  std::vector<std::string> duckdb_init_sql;
  std::vector<std::string> duckdb_extensions;
  int64_t checkpoint_interval_s = 0;  ///< 0 = only the WAL-size checkpoints below
  /// The checkpointer thread checkpoints once the WAL is this large (commits never do).
  int64_t checkpoint_wal_bytes = int64_t{16} << 20;
  /// storage.min_free_mb: below this much free space (MiB) under the database, its WAL or
  /// DuckDB's temp directory, writes are refused (disk full) and checkpoints wait; 0: off.
  /// 64 MiB: four times the default checkpoint_wal_bytes, so that the checkpoint of a full
  /// WAL and the replay of the WAL at the next start still fit.
  int64_t storage_min_free_mb = 64;
  std::string compression_algorithm = "zstd";
  int compression_level = 3;
  int64_t default_chunk_size = 122880;
  /// View name -> its files or globs (one or more; several make one view over all).
  std::map<std::string, std::vector<std::string>> views;
  /// By name, without case (DuckDB's table names ignore it): "EVENTS" finds "events".
  std::map<std::string, StreamConfig, FoldedNameLess> streams;
  /// Server-wide limits (design section 7); every protocol enforces the same ones.
  struct Limits {
    int64_t max_batch_bytes = int64_t{256} << 20;  ///< one decoded record batch
    int max_concurrent_requests = 64;              ///< calls running at once, all protocols
    int64_t query_timeout_s = 0;                   ///< 0 = no timeout
    int64_t shutdown_grace_s = 10;                 ///< in-flight calls get this long at stop
    int max_concurrent_per_user = 0;        ///< per user (per peer IP without auth); 0 = off
    int64_t requests_per_second_per_user = 0;  ///< token bucket refill; 0 = off
    int64_t request_burst_per_user = 0;     ///< token bucket size; 0 = one second's worth
    int64_t idle_timeout_s = 60;            ///< DoPut / upload silent this long: cancelled; 0 = off
    /// A write to a client (a result, an acknowledgement) that waits this long for the
    /// client to take it ends the call; 0 = off.
    int64_t write_stall_timeout_s = 120;
    /// A request whose rows are not simply its client's (a transform, a DoExchange) may
    /// write or send back at most this many times the rows and the bytes it received,
    /// plus the floors below.
    int64_t max_write_factor = 100;
    int64_t max_write_floor_rows = int64_t{1} << 20;
    int64_t max_write_floor_bytes = int64_t{256} << 20;
    /// Connections one client address may hold open on each port, handshaking ones
    /// included (HTTP: at most half of http.max_connections); more are refused at
    /// accept. 0 = no cap.
    int64_t max_connections_per_address = 256;
    /// What DuckDB may allocate outside its buffer pool, all queries together; 0 = half
    /// of duckdb.memory_limit, 256 MiB..4 GiB (storage/memory/allocation_guard.h).
    int64_t max_query_memory = 0;
    /// The server-wide budget of every call's buffers (bodies, decoded batches, held
    /// statements, result queues, planning); 0 = derived from RAM (see server.cc).
    int64_t max_request_memory = 0;
  } limits;
  int64_t http_max_query_bytes = int64_t{4} << 20;    ///< SQL text of one /query body
  int64_t flight_max_query_bytes = int64_t{4} << 20;  ///< one Flight ticket, command or action body
  /// GetFlightInfo of a whole DuckDB table of more than flight_endpoint_rows rows: up to
  /// this many endpoints, one row-id range each (clients such as ADBC fetch them in
  /// parallel); 0 = as many as DuckDB has threads, 1 = always one endpoint.
  int flight_max_endpoints = 0;
  int64_t flight_endpoint_rows = 1'048'576;
  int http_max_connections = 512;   ///< open HTTP connections; more are answered 503
  /// Result bodies compressed when the client offers a coding: "auto" (not for a client
  /// on this host, where compressing only costs CPU on both ends), "always" or "never".
  std::string http_compression = "auto";
  int64_t http_header_timeout_s = 10;  ///< a request's headers must arrive within this
  int64_t http_read_timeout_s = 30;    ///< longest wait for the next bytes of a body
  /// A gRPC connection must finish its TLS handshake and send its HTTP/2 settings within
  /// this (gRPC's own default: 120 s); HTTPS handshakes have http_header_timeout_s.
  int64_t flight_handshake_timeout_s = 10;
  /// A Flight SQL session, prepared statement or transaction unused this long is freed
  /// (an open transaction rolls back).
  int64_t flight_sql_idle_timeout_s = 900;
  /// Open Flight SQL transactions all unused this long while a checkpoint is due and
  /// waits for them (DuckDB's checkpoint waits for one that has written or read a table)
  /// are rolled back; so is one unused this long that another writer waits for (a change
  /// of a table's shape waits for the transactions writing it). Under storage's 60 s wait
  /// for a table, so that such a writer gets in.
  int64_t flight_sql_held_transaction_timeout_s = 30;
  /// How long a Flight SQL call waits for its transaction's or session's connection while
  /// another call uses it (a result still being read) before FAILED_PRECONDITION.
  int64_t flight_sql_busy_timeout_ms = 5000;
  /// What Flight SQL clients may hold open: prepared statements and transactions per
  /// session and in total, and the bytes of bound query parameters of all statements.
  struct FlightSqlCaps {
    int64_t statements_per_session = 256;
    int64_t statements = 4096;
    int64_t transactions_per_session = 8;
    int64_t transactions = 256;
    int64_t held_bytes = int64_t{512} << 20;
  } flight_sql_caps;
  /// One configured user (auth.users).
  struct User {
    std::string name;
    std::string password_hash;  ///< argon2id string, from `arrowport hash-password`
    Role role = Role::kReader;
    std::vector<std::string> tables;   ///< non-empty: only these tables
    std::vector<std::string> streams;  ///< non-empty: only these streams
  };
  /// Authentication (design section 7).
  struct Auth {
    std::optional<bool> enabled;  ///< unset: on unless both listeners are loopback
    int64_t token_ttl_s = 3600;
    std::string token_secret;  ///< HS256 key; empty: generated at start
    std::vector<User> users;
    /// Failed Basic logins one client address, and one account (from addresses that
    /// have not logged in as it), may have within failed_login_window_s; then 429 /
    /// RESOURCE_EXHAUSTED before any hash is computed (auth/login_throttle.h). 0 = off.
    int64_t max_failed_logins_per_address = 20;
    int64_t max_failed_logins_per_account = 20;
    int64_t failed_login_window_s = 60;
  } auth;
  /// Server-to-server transfer (Flight actions copy_from / copy_to).
  struct Transfer {
    /// host:port patterns (`*` and `?` wildcards) this server may connect to; empty: none.
    std::vector<std::string> allowed_peers;
    /// Credentials this server presents to a peer, by its host:port (never logged).
    struct Peer {
      std::string user;
      std::string password;
      std::string token;
      std::string tls_ca;  ///< PEM file of CAs to trust for grpc+tls:// peers
    };
    std::map<std::string, Peer> peers;
  } transfer;
  /// Prometheus metrics (design section 8): GET /metrics on the HTTP port, and on a
  /// listener of their own when `port` is set.
  struct Metrics {
    bool enabled = true;  ///< false: nothing is counted and /metrics answers 404
    std::string host = "127.0.0.1";  ///< the metrics listener's address: loopback by default
    std::optional<int> port;         ///< the metrics listener (0 = any free port); unset: none
    /// Streams outside the routing config with a label of their own (the rest: "other").
    int64_t max_stream_labels = 100;
  } metrics;
  /// S3 for lake sinks (design section 3). Credentials empty: the AWS_* environment.
  struct S3 {
    std::string endpoint;        ///< empty: AWS (https://s3.REGION.amazonaws.com)
    std::string region = "us-east-1";
    std::string url_style = "path";  ///< path | vhost
    std::string ca_file;
    std::string access_key_id;
    std::string secret_access_key;  ///< never logged
    std::string session_token;      ///< never logged
    int64_t part_mb = 8;            ///< multipart upload part size, 5..5120
    /// Connecting, and any stall (under 16 KiB/s) this long, fails a request; ten times
    /// this in all, too.
    int64_t timeout_ms = 30000;
    /// The most one store request takes in all, its retries included (1000..3600000).
    int64_t call_timeout_ms = 120000;
    /// probe | trust: whether a lake table's first write checks that the store honours
    /// `If-None-Match: *` (and refuses to write when it does not).
    std::string conditional_writes = "probe";
  } s3;
  /// Scheduled backups (`backup:`, backup_section.h): every `every_s` seconds to `to`,
  /// keeping the newest `keep` there.
  struct Backup {
    int64_t every_s = 0;  ///< 0: none scheduled (backup.every: "6h", "30m", "90s", "1d")
    std::string to;       ///< a directory or s3://bucket/prefix
    int64_t keep = 0;     ///< complete backups kept at `to`; 0: all
  } backup;
  /// lake.commit_key_file: the secret lake commits of request ids are sealed with (a
  /// file only the server may read; nodes writing one lake share it). Empty: a key the
  /// server generates once and keeps in its database. Read at start.
  std::string lake_commit_key_file;
  /// lake.read_part_mb: a lake table's files are read in parts of about this many MiB
  /// (GetFlightInfo's endpoints; at most 16).
  int64_t lake_read_part_mb = 4;
  /// Nodes serving one lake together (`cluster:`, cluster_section.h; design section 14):
  /// the same on every node but `self`. Empty `nodes`: no cluster.
  struct Cluster {
    struct Node {
      std::string name;
      std::string flight;  ///< the node's Flight URL as clients reach it (grpc[+tls]://)
      std::string http;    ///< its HTTP URL (http[s]://), whose /readyz says it serves
    };
    std::vector<Node> nodes;
    std::string self;         ///< the name of this node in `nodes`
    std::string secret_file;  ///< the cluster's shared secret (tickets): private, >= 32 bytes
    int64_t health_interval_ms = 1000;  ///< how often each other node's /readyz is asked
  } cluster;
  std::string log_level = "info";
  std::string log_format = "text";
};

/// Command-line values; set ones win over file and environment.
struct Overrides {
  std::optional<std::string> db_path;
  std::optional<std::string> flight_host;
  std::optional<int> flight_port;
  std::optional<std::string> http_host;
  std::optional<int> http_port;
  std::optional<std::string> log_format;
  std::optional<int> metrics_port;
  /// `serve --parquet`: files or globs made into one view, named `parquet_view` or
  /// kDefaultParquetView (replaces a configured view of that name).
  std::vector<std::string> parquet_files;
  std::optional<std::string> parquet_view;
};

/// The view `serve --parquet` makes when no `--view` is given.
inline constexpr const char* kDefaultParquetView = "dataset";

/// \brief Builds the configuration: defaults, then the YAML file (if `path` is not
/// empty), then `ARROWPORT_*` variables from `environ_entries` ("KEY=VALUE"), then
/// `overrides`. Unknown keys and invalid values are errors naming file, key and reason;
/// so is a file holding secrets that every user may read (CheckConfigFileAccess).
arrow::Result<Config> Load(const std::string& path,
                           const std::vector<std::string>& environ_entries,
                           const Overrides& overrides);
/// \brief As Load, from the file's `text` already read (`path` names it in errors): the
/// config watcher applies exactly the text it saw settle, never a second read that could
/// land in the middle of a rewrite. Who may read the file is the caller's to check
/// (CheckConfigFileAccess, with what ReadConfigFile said of the same read).
arrow::Result<Config> LoadText(const std::string& text, const std::string& path,
                               const std::vector<std::string>& environ_entries,
                               const Overrides& overrides);

/// \brief Parses YAML text (used by Load and by tests). `source` names it in errors.
arrow::Result<Config> ParseYaml(const std::string& text, const std::string& source);

/// \brief Checks cross-field constraints (ports, names, sizes).
arrow::Status Validate(const Config& config);

/// \brief Checks that the views' local files exist, before the server starts: a file must
/// be a readable regular file, a glob's directory must exist and (for globs without `**`
/// or `{`) match at least one file. URLs (`s3://...`) are left to DuckDB. Errors name the
/// key (`views.NAME`, or `--parquet` for the view the flag made). Not part of Load(), so
/// that a config reload (which never changes views) does not fail on files moved since.
arrow::Status CheckViewFiles(const Config& config, const Overrides& overrides);

/// "reader", "writer" or "admin" (auth.users[].role).
arrow::Result<Role> ParseRole(const std::string& text);
const char* ToString(Role role);

/// Whether callers must authenticate: auth.enabled when written, else on iff users are
/// configured (secure by default: Validate refuses a non-loopback bind without either).
bool AuthEnabled(const Config& config);

/// Whether `host` is a loopback address: localhost, an IPv4 address in 127.0.0.0/8, ::1
/// (also written "[::1]" or in full) or an IPv4 loopback address mapped to IPv6
/// (::ffff:127.0.0.1). `::` and `0.0.0.0` (every interface) are not loopback.
bool IsLoopback(const std::string& host);

/// `host` without brackets when it is an IPv6 address, bare ("::1") or in the brackets a
/// URI writes around one ("[::1]"); nothing for a name, an IPv4 address or anything else.
std::optional<std::string> Ipv6Address(const std::string& host);

/// \brief The routing for `stream`: its configured entry (its name in any case, as
/// DuckDB's table names), or defaults routing the stream to a table of the same name.
StreamConfig RouteFor(const Config& config, const std::string& stream);

/// \brief The streams' routing as it is now (hot reloads included), for the readers of
/// the routing that are not the ingest side (the lake service); the ingest side's
/// StreamRouter is one, with its counters besides.
class RouteSource {
 public:
  virtual ~RouteSource() = default;
  /// The routing of `stream` (its own, or the defaults').
  virtual StreamConfig Route(const std::string& stream) const = 0;
  /// Every stream known now (configured, or written to), with its routing.
  virtual std::map<std::string, StreamConfig> Routes() const = 0;
};

}  // namespace arrowport::config
