#pragma once

// Internal to the Flight adapter: server-to-server transfer (design section 5), the
// actions copy_from (pull from any Flight server's DoGet into a local table) and copy_to
// (push a local table or query to another server's DoPut).

#include <memory>
#include <mutex>
#include <string>

#include "arrow/result.h"
#include "arrowport/common/call_context.h"
#include "arrowport/config/config.h"

namespace arrowport {
class CallWatchdog;
}
namespace arrowport::ingest {
class IngestPipeline;
}
namespace arrowport::query {
class QueryPipeline;
}

namespace arrowport::flight {

struct CallRecord;

/// \brief The transfer section in force: which peers this server may open connections
/// to (transfer.allowed_peers) and the credentials it presents to them. Hot-reloaded.
/// Thread-safe.
class TransferPolicy {
 public:
  explicit TransferPolicy(config::Config::Transfer settings) : settings_(std::move(settings)) {}
  void Update(config::Config::Transfer settings);
  /// OK when `host_port` matches a transfer.allowed_peers pattern; PermissionDenied
  /// naming the key otherwise.
  arrow::Status CheckPeer(const std::string& host_port) const;
  /// transfer.peers[host_port] (empty when none).
  config::Config::Transfer::Peer CredentialsFor(const std::string& host_port) const;

 private:
  mutable std::mutex mutex_;  // guards settings_
  config::Config::Transfer settings_;
};

/// What the transfer actions run on; all outlive the call.
struct TransferDeps {
  ingest::IngestPipeline* ingest = nullptr;
  query::QueryPipeline* query = nullptr;
  const TransferPolicy* policy = nullptr;
  /// The largest message a peer may send (limits.max_batch_bytes plus framing).
  int64_t max_message_bytes = int64_t{256} << 20;
  /// limits.query_timeout_s (0 = none): copy_to's timeout when its body gives none, and
  /// copy_from's wait for a source to begin its stream (120 s when 0).
  int64_t query_timeout_s = 0;
  /// Ends copy_from's wait for a source's stream at its bound (may be null: unbounded).
  CallWatchdog* watchdog = nullptr;
};

/// \brief copy_from: `body` is JSON {"source": "grpc[+tls]://host:port", one of "ticket"
/// (raw, for any Flight server), "sql" or "source_table" (asked by GetFlightInfo, whose
/// announced schema every stream must match), "target_table", "mode", "commit",
/// "request_id", "timeout_s" (the whole transfer), and optional "user"/"password" or
/// "token" and "tls_ca" for the source}.
/// Streams the rows through the ingest pipeline; returns DoPut's summary JSON.
arrow::Result<std::string> CopyFrom(const TransferDeps& deps, const std::string& body,
                                    const CallContext& call, CallRecord* record);

/// \brief copy_to: `body` is JSON {"target": URL, "sql" or "source_table", "target_table",
/// "mode", "commit", "request_id", "timeout_s", credentials as for copy_from}. Streams a
/// local query to the target's DoPut (a sealed upload) and stops when the call is
/// cancelled. Returns the target's own summary when an Arrowport target sealed the
/// upload with one for exactly the rows sent; otherwise {"sent": N, "committed": null}:
/// whether a foreign target kept the rows is not known here.
arrow::Result<std::string> CopyTo(const TransferDeps& deps, const std::string& body,
                                  const CallContext& call, CallRecord* record);

}  // namespace arrowport::flight
