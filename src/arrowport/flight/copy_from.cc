// The copy_from action (transfer.h): a peer's DoGet streamed into this server's ingest
// pipeline.

#include <arrow/flight/client.h>
#include <arrow/flight/transport.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <mutex>

#include "arrow/ipc/reader.h"
#include "arrow/record_batch.h"
#include "arrow/util/uri.h"
#include "arrowport/common/call_watchdog.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/status_detail.h"
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

// How long a source may take to plan a copy's query (GetFlightInfo) or a peer to answer.
constexpr double kPlanningSeconds = 120.0;

// What bounds the wait for a source to begin a stream (its schema) when the copy gives no
// timeout_s: the call's cancellation, which the watchdog fires with a reason of its own.
struct StreamStartBound {
  CallWatchdog* watchdog = nullptr;  // none: the caller alone bounds it
  std::shared_ptr<CallCancellation> cancellation;
  int64_t seconds = 0;  // limits.query_timeout_s, else kPlanningSeconds
};

// The IPC messages of one DoGet call; FlightData without an IPC header (application
// metadata alone) is skipped. At the end of the stream, the call's own status.
class PeerMessages : public arrow::ipc::MessageReader {
 public:
  explicit PeerMessages(std::shared_ptr<fl::internal::ClientDataStream> call)
      : call_(std::move(call)) {}

  arrow::Result<std::unique_ptr<arrow::ipc::Message>> ReadNextMessage() override {
    fl::internal::FlightData data;
    while (call_->ReadData(&data)) {
      if (!data.metadata) continue;
      auto message = data.OpenMessage();
      if (!message.ok()) call_->TryCancel();  // no draining of a peer that sends on
      return message;
    }
    ARROW_RETURN_NOT_OK(call_->Finish(arrow::Status::OK()));
    return nullptr;
  }

 private:
  const std::shared_ptr<fl::internal::ClientDataStream> call_;
};

// The rows a peer's DoGet streams: the endpoints of a FlightInfo one after the other
// (or one raw ticket), each stream checked against the schema the peer announced.
// Cancel() (any thread) ends the read in progress, the wait for a stream's schema too.
// (Arrow's FlightClient::DoGet returns only once the peer has sent the schema, in a call
// nothing can cancel: a source that never sent one held its copy past its client and the
// server's stop. The calls are made on Flight's transport, whose DoGet starts the call at
// once, its first read, the schema's, ended by Cancel() or by the call's deadline.)
class PeerStreamReader : public arrow::RecordBatchReader {
 public:
  PeerStreamReader(std::shared_ptr<PeerConnection> peer, std::vector<fl::Ticket> tickets,
                   std::shared_ptr<arrow::Schema> announced, StreamStartBound start_bound)
      : peer_(std::move(peer)),
        tickets_(std::move(tickets)),
        schema_(std::move(announced)),
        start_bound_(std::move(start_bound)) {}

  ~PeerStreamReader() override {
    batches_.reset();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (call_) call_->TryCancel();  // a copy that ends early (a transform's LIMIT)
      call_.reset();
    }
    if (transport_) (void)transport_->Close();
  }

  /// Opens the first stream (its schema is then known).
  arrow::Status Start() {
    ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(peer_->address.url));
    arrow::util::Uri uri;
    ARROW_RETURN_NOT_OK(uri.Parse(peer_->address.url));
    ARROW_ASSIGN_OR_RAISE(transport_,
                          fl::internal::GetDefaultTransportRegistry()->MakeClient(
                              location.scheme()));
    ARROW_RETURN_NOT_OK(transport_->Init(peer_->client_options, location, uri));
    ARROW_RETURN_NOT_OK(OpenNext());
    if (!schema_) return arrow::Status::Invalid("the source offered no stream");
    return arrow::Status::OK();
  }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    while (batches_) {
      auto batch = batches_->Next();
      if (!batch.ok()) return Explained(batch.status(), /*started=*/true);
      if (*batch) {
        *out = std::move(*batch);
        return arrow::Status::OK();
      }
      ARROW_RETURN_NOT_OK(OpenNext());
    }
    return arrow::Status::OK();
  }

  void Cancel() {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
    if (call_) call_->TryCancel();
  }

 private:
  arrow::Status SchemaChanged(const arrow::Schema& got) const {
    return arrow::Status::Invalid("the source sent a stream whose schema (", got.ToString(),
                                  ") is not the one it announced (", schema_->ToString(),
                                  "): nothing of it is committed");
  }

  // `failed`, a read of the source's stream, said in words when the copy's timeout_s
  // (the call's deadline) is why.
  arrow::Status Explained(const arrow::Status& failed, bool started) const {
    const auto detail = fl::FlightStatusDetail::UnwrapStatus(failed);
    if (!detail || detail->code() != fl::FlightStatusCode::TimedOut) return failed;
    const auto seconds = static_cast<int64_t>(std::ceil(peer_->options.timeout.count()));
    if (started) return TimedOut("the copy ran past its timeout_s (", seconds, " s)");
    return TimedOut("the source did not begin its stream (its schema) within the copy's "
                    "timeout_s (", seconds, " s): DEADLINE_EXCEEDED");
  }

  // Without a timeout_s (whose deadline the call carries), the wait for the schema ends
  // StreamStartBound's seconds from now, the copy cancelled with a reason saying so.
  CallWatchdog::Watch BoundStart() const {
    const StreamStartBound& b = start_bound_;
    if (peer_->options.timeout.count() >= 0 || b.watchdog == nullptr || !b.cancellation) {
      return {};
    }
    CallWatchdog::Checks checks;
    checks.deadline = CallWatchdog::Clock::now() + std::chrono::seconds(b.seconds);
    checks.deadline_reason = TimedOut(
        "the source did not begin its stream (its schema) within ", b.seconds,
        " s (limits.query_timeout_s, or 120 s when that is 0): give the copy a timeout_s "
        "if it needs longer");
    return b.watchdog->Add(b.cancellation, std::move(checks));
  }

  // Ends the current stream and opens the next ticket's (none left: end of data).
  arrow::Status OpenNext() {
    batches_.reset();
    std::shared_ptr<fl::internal::ClientDataStream> call;
    if (next_ticket_ < tickets_.size()) {
      std::unique_ptr<fl::internal::ClientDataStream> started;
      ARROW_RETURN_NOT_OK(transport_->DoGet(peer_->options, tickets_[next_ticket_++], &started));
      call = std::move(started);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      call_ = call;  // Cancel() reaches it from here on
      if (cancelled_) {
        if (call_) call_->TryCancel();
        return arrow::Status::Cancelled("the copy was cancelled");
      }
    }
    if (!call) return arrow::Status::OK();
    CallWatchdog::Watch bound = BoundStart();
    auto opened = arrow::ipc::RecordBatchStreamReader::Open(
        std::make_unique<PeerMessages>(std::move(call)), peer_->options.read_options);
    bound.Reset();
    if (!opened.ok()) return Explained(opened.status(), /*started=*/false);
    batches_ = std::move(*opened);
    const auto got = batches_->schema();
    if (!schema_) {
      schema_ = got;
    } else if (!got->Equals(*schema_, /*check_metadata=*/false)) {
      return SchemaChanged(*got);
    }
    return arrow::Status::OK();
  }

  std::shared_ptr<PeerConnection> peer_;
  std::unique_ptr<fl::internal::ClientTransport> transport_;  // the DoGet calls' channel
  std::vector<fl::Ticket> tickets_;
  size_t next_ticket_ = 0;
  std::shared_ptr<arrow::Schema> schema_;
  const StreamStartBound start_bound_;
  std::shared_ptr<arrow::ipc::RecordBatchStreamReader> batches_;  // the current stream's
  std::mutex mutex_;  // guards the two below (Cancel comes from another thread)
  std::shared_ptr<fl::internal::ClientDataStream> call_;  // the current ticket's call
  bool cancelled_ = false;
};

// The source's plan of a copy by table or SQL: its endpoints' tickets and its schema.
// Planning at the source is bounded like the start of each stream (StreamStartBound);
// the rows that follow by timeout_s and the query deadline from the first batch.
arrow::Status PlanAtSource(const PeerConnection& peer, const json& cmd, const CallContext& call,
                           std::vector<fl::Ticket>* tickets,
                           std::shared_ptr<arrow::Schema>* announced) {
  auto planning = peer.options;
  if (planning.timeout.count() < 0) planning.timeout = fl::TimeoutDuration{kPlanningSeconds};
  const auto descriptor = fl::FlightDescriptor::Command(cmd.dump());
  ARROW_ASSIGN_OR_RAISE(auto info, PeerFlightInfo(peer, planning, descriptor, call.cancellation));
  arrow::ipc::DictionaryMemo memo;
  ARROW_ASSIGN_OR_RAISE(*announced, info->GetSchema(&memo));
  for (const auto& endpoint : info->endpoints()) tickets->push_back(endpoint.ticket);
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::string> CopyFrom(const TransferDeps& deps, const std::string& body,
                                    const CallContext& call, CallRecord* record) {
  ARROW_ASSIGN_OR_RAISE(auto doc, ParseBody(body, "copy_from"));
  ARROW_RETURN_NOT_OK(OnlyKnownKeys(doc, "copy_from",
                                    {"source", "ticket", "sql", "source_table", "target_table",
                                     "mode", "commit", "request_id", "user", "password", "token",
                                     "tls_ca", "timeout_s", "progress"}));
  if (doc.contains("progress") && !doc["progress"].is_boolean()) {
    return arrow::Status::Invalid("copy_from: 'progress' must be true or false");
  }
  ARROW_ASSIGN_OR_RAISE(const auto timeout, TimeoutOf(doc));
  ARROW_ASSIGN_OR_RAISE(auto source, StringOf(doc, "source"));
  ARROW_ASSIGN_OR_RAISE(auto ticket, StringOf(doc, "ticket"));
  ARROW_ASSIGN_OR_RAISE(auto sql, StringOf(doc, "sql"));
  ARROW_ASSIGN_OR_RAISE(auto source_table, StringOf(doc, "source_table"));
  if (source.empty()) return arrow::Status::Invalid("copy_from needs 'source' (grpc://host:port)");
  if ((!ticket.empty()) + (!sql.empty()) + (!source_table.empty()) != 1) {
    return arrow::Status::Invalid("copy_from needs exactly one of 'ticket', 'sql' or "
                                  "'source_table'");
  }
  ingest::RequestFields fields;
  ARROW_ASSIGN_OR_RAISE(fields.table, StringOf(doc, "target_table"));
  if (fields.table.empty()) fields.table = source_table;
  if (fields.table.empty()) return arrow::Status::Invalid("copy_from needs 'target_table'");
  ARROW_RETURN_NOT_OK(ValidateName("target_table", fields.table));
  fields.stream = fields.table;
  ARROW_ASSIGN_OR_RAISE(auto mode, StringOf(doc, "mode"));
  if (!mode.empty()) fields.mode = mode;
  ARROW_ASSIGN_OR_RAISE(auto commit, StringOf(doc, "commit"));
  if (!commit.empty()) fields.commit = commit;
  ARROW_ASSIGN_OR_RAISE(fields.request_id, StringOf(doc, "request_id"));
  ARROW_ASSIGN_OR_RAISE(auto request, ingest::ParseRequestFields(fields));
  request.protocol = "flight-copy";
  request.server_reads_source = true;
  // A small action makes the peer send any number of rows: under the query deadline.
  request.under_query_deadline = true;
  // Begun before the peer is reached; listed under its stream once the rows flow.
  ARROW_ASSIGN_OR_RAISE(auto run, deps.ingest->Begin(std::move(request)));
  ARROW_ASSIGN_OR_RAISE(auto address, ParsePeerAddress(source));
  ARROW_ASSIGN_OR_RAISE(auto credentials, CredentialsFromJson(doc));
  record->fields.push_back({"source", address.host_port});
  record->fields.push_back({"table", run.request().table});

  auto copied = [&]() -> arrow::Result<ingest::IngestResult> {
    ARROW_ASSIGN_OR_RAISE(auto connected, ConnectPeer(*deps.policy, address, credentials,
                                                      deps.max_message_bytes));
    auto peer = std::make_shared<PeerConnection>(std::move(connected));
    peer->options.timeout = timeout;
    std::vector<fl::Ticket> tickets;
    std::shared_ptr<arrow::Schema> announced;
    if (!ticket.empty()) {
      tickets.push_back(fl::Ticket{ticket});
    } else {
      // Arrowport's descriptor form; the peer announces the schema and its endpoints.
      const json cmd = sql.empty() ? json{{"table", source_table}} : json{{"sql", sql}};
      ARROW_RETURN_NOT_OK(PlanAtSource(*peer, cmd, call, &tickets, &announced));
    }
    const StreamStartBound start_bound{
        deps.watchdog, call.cancellation,
        deps.query_timeout_s > 0 ? deps.query_timeout_s
                                 : static_cast<int64_t>(kPlanningSeconds)};
    auto reader =
        std::make_shared<PeerStreamReader>(peer, std::move(tickets), announced, start_bound);
    // A call that ends (client gone, shutdown) stops the read from the peer too.
    CallCancellation::Subscription stop;
    if (call.cancellation) {
      stop = CallCancellation::OnCancel(call.cancellation, [reader] { reader->Cancel(); });
    }
    ARROW_RETURN_NOT_OK(reader->Start());
    return deps.ingest->Ingest(std::move(run), reader, {}, call);
  }();
  ARROW_RETURN_NOT_OK(InContext(copied.status(), "copy_from", address.host_port));
  record->fields.push_back({"rows", std::to_string(copied->rows)});
  json summary = json::parse(IngestSummaryJson(*copied));
  summary["source"] = address.host_port;
  return summary.dump();
}

}  // namespace arrowport::flight
