#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/config/config.h"

namespace arrowport::ingest {

/// What a request does when the target table exists (design section 4).
enum class WriteMode { kAppend, kCreate, kReplace };

const char* ToString(WriteMode mode);
arrow::Result<WriteMode> ParseWriteMode(const std::string& text);

/// One ingest request, independent of the protocol that carried it.
struct IngestRequest {
  std::string stream;
  std::string table;  ///< empty: the stream's routed target_table
  std::string schema;  ///< DuckDB schema of the table; empty: main
  /// A temporary table: it lives on the connection handed to IngestPipeline::Ingest.
  bool temporary = false;
  WriteMode mode = WriteMode::kAppend;
  std::optional<config::CommitMode> commit;  ///< unset: the stream's configured mode
  std::string protocol = "flight";
  /// The server reads the source itself (copy_from: a peer's table), it is no client's
  /// upload: a transform reads it no further than it needs.
  bool server_reads_source = false;
  /// The client waits for nothing but the final answer (HTTP): a per_batch transform's
  /// input is read to its end and checked too, as a per_request one's is. (A Flight
  /// client may wait for each batch's acknowledgement before it sends the next.)
  bool answered_at_end = false;
  /// Optional client-chosen id: a retried request with the same id (per_request), or the
  /// same batch of it (per_batch), is not inserted twice.
  std::string request_id;
  /// The client's own transform (SQL over `input`), applied before the stream's
  /// configured one; judged by the SQL sandbox for the caller. Empty: none.
  std::string transform;
  /// The rows come from elsewhere than the caller (copy_from reads them from a peer): the
  /// write runs under the query deadline from its first batch, as a transform's does.
  bool under_query_deadline = false;
  /// Flight: the client ends its upload with an end marker (flight/call_scope.h), so a
  /// sender that fails half way and half-closes commits nothing (copy_to sets it).
  bool sealed = false;
  /// Bytes of the request as they arrived (before IPC body or HTTP decompression), read
  /// when the request ends, for the stream's compression ratio; empty when unknown.
  std::function<int64_t()> wire_bytes;
};

/// Checks a client-supplied request id: 1..200 printable ASCII characters, no spaces
/// (the log's keys, "<request_id>[ batch <index>] to <table>", can never be equal).
arrow::Status ValidateRequestId(const std::string& id);

/// A request's options as its client spelled them (a URL's parameters, a descriptor's or
/// an action's JSON); "" where it gave none.
struct RequestFields {
  std::string stream;
  std::string table;
  std::optional<std::string> mode;    ///< unset: append (given, even empty: parsed)
  std::optional<std::string> commit;  ///< unset: the stream's (given, even empty: parsed)
  std::string request_id;
  std::string transform;
};

/// \brief The one parse of a client's options, whichever protocol carried them: `mode`
/// (ParseWriteMode) and `commit` (config::ParseCommitMode) read, the rest taken as given.
/// The names and the id are checked when the run begins (IngestPipeline::Begin).
arrow::Result<IngestRequest> ParseRequestFields(const RequestFields& fields);

/// \brief Parses a Flight DoPut descriptor: PATH `[stream]` (or `[stream, table]`), or a
/// CMD holding JSON `{"stream": ..., "table": ..., "mode": ..., "commit": ...}` (the seed's
/// `{"stream_name": ...}` too, and "transform": SQL over `input`) or a bare stream name.
arrow::Result<IngestRequest> ParseDescriptor(bool is_path,
                                             const std::vector<std::string>& path,
                                             const std::string& cmd);

}  // namespace arrowport::ingest
