// The copy_to action (transfer.h): this server's query pipeline streamed into a peer's
// DoPut.

#include <arrow/flight/client.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "arrow/record_batch.h"
#include "arrowport/common/identifier.h"
#include "arrowport/flight/call_runner.h"
#include "arrowport/flight/call_scope.h"
#include "arrowport/flight/exchange.h"
#include "arrowport/flight/transfer.h"
#include "arrowport/flight/transfer_peer.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/query/query_pipeline.h"

namespace arrowport::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

namespace {

// How long a copy_to may take when neither its body nor limits.query_timeout_s says.
constexpr double kDefaultPushSeconds = 3600.0;

// A thread joined on every path out of its scope (std::thread would terminate).
class JoiningThread {
 public:
  template <typename Fn>
  explicit JoiningThread(Fn&& fn) : thread_(std::forward<Fn>(fn)) {}
  ~JoiningThread() { Join(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

// What copy_to answers once the target closed the upload without an error. Only an
// Arrowport target's sealed summary says the rows were committed, and only when it counts
// exactly the rows sent (a retry's summary counts the original request's, which were the
// same rows); anything else - a foreign target, which sends none, or one whose figures
// are not ours - says what was sent and that the outcome is not known here.
json PushSummary(const json& peer_summary, int64_t rows, int64_t batches) {
  const bool sealed = peer_summary.is_object() &&
                      peer_summary.value("committed", json()) == true &&
                      peer_summary.contains("rows") &&
                      peer_summary["rows"].is_number_integer() &&
                      peer_summary["rows"].get<int64_t>() == rows;
  json summary = sealed ? peer_summary : json::object();
  summary["sent"] = rows;
  summary["batches_sent"] = batches;
  if (!sealed) {
    summary["committed"] = nullptr;
    summary["note"] =
        peer_summary.is_object()
            ? "the target's summary does not count the rows sent: whether it kept them "
              "is unknown"
            : "the target sent no Arrowport summary: whether it kept the rows is unknown";
  }
  return summary;
}

// What a copy_to body asks, checked before anything connects.
struct CopyToRequest {
  fl::TimeoutDuration timeout{0};
  std::string target_table;
  json put;  // the target's DoPut command
  query::QueryRequest query;
  PeerAddress address;
  PeerCredentials credentials;
};

arrow::Result<CopyToRequest> ParseCopyTo(const TransferDeps& deps,
                                          const std::string& body) {
  ARROW_ASSIGN_OR_RAISE(auto doc, ParseBody(body, "copy_to"));
  ARROW_RETURN_NOT_OK(OnlyKnownKeys(doc, "copy_to",
                                    {"target", "sql", "source_table", "target_table", "mode",
                                     "commit", "request_id", "user", "password", "token",
                                     "tls_ca", "timeout_s"}));
  CopyToRequest request;
  ARROW_ASSIGN_OR_RAISE(request.timeout, TimeoutOf(doc));
  if (request.timeout.count() < 0) {
    // Never unbounded: a target that stops reading would hold the action for good.
    request.timeout = fl::TimeoutDuration{deps.query_timeout_s > 0
                                              ? static_cast<double>(deps.query_timeout_s)
                                              : kDefaultPushSeconds};
  }
  ARROW_ASSIGN_OR_RAISE(auto target, StringOf(doc, "target"));
  ARROW_ASSIGN_OR_RAISE(auto sql, StringOf(doc, "sql"));
  ARROW_ASSIGN_OR_RAISE(auto source_table, StringOf(doc, "source_table"));
  if (target.empty()) return arrow::Status::Invalid("copy_to needs 'target' (grpc://host:port)");
  if (sql.empty() == source_table.empty()) {
    return arrow::Status::Invalid("copy_to needs exactly one of 'sql' or 'source_table'");
  }
  ARROW_ASSIGN_OR_RAISE(auto target_table, StringOf(doc, "target_table"));
  if (target_table.empty()) target_table = source_table;
  if (target_table.empty()) return arrow::Status::Invalid("copy_to needs 'target_table'");
  ARROW_RETURN_NOT_OK(ValidateName("target_table", target_table));
  // The target's DoPut command: its own parser checks mode, commit and request_id.
  request.put = {{"stream", target_table}, {"table", target_table}, {"sealed", true}};
  for (const char* key : {"mode", "commit", "request_id"}) {
    ARROW_ASSIGN_OR_RAISE(auto value, StringOf(doc, key));
    if (!value.empty()) request.put[key] = value;
  }
  request.target_table = target_table;
  request.query.sql = sql;
  request.query.table = source_table;
  if (!request.query.table.empty()) {
    ARROW_RETURN_NOT_OK(ValidateName("source_table", request.query.table));
  }
  ARROW_ASSIGN_OR_RAISE(request.address, ParsePeerAddress(target));
  ARROW_ASSIGN_OR_RAISE(request.credentials, CredentialsFromJson(doc));
  return request;
}

// What the push sent, and the target's summary (null when it sent none).
struct Pushed {
  int64_t rows = 0;
  int64_t batches = 0;
  json peer_summary;
};

// The result's batches written to the target, then the end marker that lets it commit;
// `check_stopped` fails once the call is cancelled, before anything more is sent.
arrow::Status SendBatches(arrow::RecordBatchReader* results,
                          fl::FlightStreamWriter* writer,
                          const std::function<arrow::Status()>& check_stopped,
                          Pushed* pushed) {
  while (true) {
    ARROW_RETURN_NOT_OK(check_stopped());
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(results->ReadNext(&batch));
    if (batch == nullptr) break;
    ARROW_RETURN_NOT_OK(check_stopped());
    pushed->rows += batch->num_rows();
    ++pushed->batches;
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
  }
  // Everything was read: only now the marker that lets the target commit.
  ARROW_RETURN_NOT_OK(check_stopped());
  return writer->WriteMetadata(arrow::Buffer::FromString(kUploadEndMarker));
}

// The local query streamed into the target's DoPut.
arrow::Status PushQuery(const TransferDeps& deps, const CopyToRequest& request,
                        const CallContext& call, Pushed* pushed) {
  ARROW_ASSIGN_OR_RAISE(auto peer,
                        ConnectPeer(*deps.policy, request.address, request.credentials,
                                    deps.max_message_bytes));
  peer.options.timeout = request.timeout;
  // The caller gone (or the server stopping): the local query is interrupted by the
  // call's own cancellation; this stops the pushing between batches, and above all
  // before the end marker, so that the target commits nothing.
  auto stopped = std::make_shared<std::atomic<bool>>(false);
  CallCancellation::Subscription stop;
  if (call.cancellation) {
    stop = CallCancellation::OnCancel(call.cancellation,
                                      [stopped] { stopped->store(true); });
  }
  const auto check_stopped = [&]() -> arrow::Status {
    if (!stopped->load()) return arrow::Status::OK();
    const arrow::Status reason = call.cancellation->reason();
    return reason.ok() ? arrow::Status::Cancelled("the call was cancelled") : reason;
  };
  ARROW_ASSIGN_OR_RAISE(auto results, deps.query->Execute(request.query, call));
  const auto descriptor = fl::FlightDescriptor::Command(request.put.dump());
  ARROW_ASSIGN_OR_RAISE(auto stream,
                        peer.client->DoPut(peer.options, descriptor, results->schema()));
  // The target acknowledges as it commits: read those on the side, so its replies never
  // wait for ours, and keep its summary (the one with "table" and "seconds").
  std::mutex acks_mutex;
  JoiningThread acks([&] {
    while (true) {
      // Fresh each time: once the stream is finished, ReadMetadata leaves it untouched.
      std::shared_ptr<arrow::Buffer> metadata;
      if (!stream.reader->ReadMetadata(&metadata).ok() || metadata == nullptr) break;
      auto doc = json::parse(metadata->ToString(), nullptr, /*allow_exceptions=*/false);
      if (!doc.is_object() || !doc.contains("table") || !doc.contains("seconds")) {
        continue;
      }
      std::lock_guard<std::mutex> lock(acks_mutex);
      pushed->peer_summary = std::move(doc);
    }
  });
  auto* writer = stream.writer.get();
  auto sent = SendBatches(results.get(), writer, check_stopped, pushed);
  // The local query's connection is not held while the target answers.
  results.reset();
  // Half-closing ends the upload either way; without the end marker (a local error, the
  // caller gone) the target refuses it and commits nothing. Arrow's DoPut cannot be
  // cancelled: a target that stops reading holds it until the timeout. Closing before
  // the half-close would wait on the acknowledgements forever, and closing before they
  // are all read would drain (lose) the target's summary: the call ends, its last
  // message read, and only then is it closed for its status.
  auto done = writer->DoneWriting();
  acks.Join();
  auto closed = writer->Close();
  ARROW_RETURN_NOT_OK(sent);
  ARROW_RETURN_NOT_OK(done);
  return closed;
}

}  // namespace

arrow::Result<std::string> CopyTo(const TransferDeps& deps, const std::string& body,
                                  const CallContext& call, CallRecord* record) {
  ARROW_ASSIGN_OR_RAISE(auto request, ParseCopyTo(deps, body));
  const auto& address = request.address;
  record->fields.push_back({"target", address.host_port});
  record->fields.push_back({"table", request.target_table});

  const auto start = std::chrono::steady_clock::now();
  Pushed pushed;
  ARROW_RETURN_NOT_OK(
      InContext(PushQuery(deps, request, call, &pushed), "copy_to", address.host_port));
  record->fields.push_back({"rows", std::to_string(pushed.rows)});
  json summary = PushSummary(pushed.peer_summary, pushed.rows, pushed.batches);
  record->fields.push_back(
      {"committed", summary["committed"].is_null() ? "unknown" : "true"});
  summary["target"] = address.host_port;
  summary["seconds_total"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary.dump();
}

}  // namespace arrowport::flight
