// The copy_from action (transfer.h): a peer's DoGet streamed into this server's ingest
// pipeline.

#include <arrow/flight/client.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

#include "arrow/record_batch.h"
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

// A peer's stream being opened on a thread of its own (PeerStreamReader::Open).
struct StreamOpening {
  std::mutex mutex;  // guards everything below
  std::condition_variable changed;
  bool done = false;
  bool abandoned = false;  // the copy was cancelled: the thread cancels what it gets
  arrow::Result<std::unique_ptr<fl::FlightStreamReader>> stream{
      arrow::Status::UnknownError("not opened")};

  void Abandon() {
    std::lock_guard<std::mutex> lock(mutex);
    abandoned = true;
    changed.notify_all();
  }
};

// The rows a peer's DoGet streams: the endpoints of a FlightInfo one after the other
// (or one raw ticket), each stream checked against the schema the peer announced.
// Cancel() (any thread) ends the read in progress.
class PeerStreamReader : public arrow::RecordBatchReader {
 public:
  PeerStreamReader(std::shared_ptr<PeerConnection> peer, std::vector<fl::Ticket> tickets,
                   std::shared_ptr<arrow::Schema> announced,
                   std::shared_ptr<std::atomic<int>> stream_opens)
      : peer_(std::move(peer)),
        tickets_(std::move(tickets)),
        schema_(std::move(announced)),
        stream_opens_(std::move(stream_opens)) {}

  /// Opens the first stream (its schema is then known).
  arrow::Status Start() {
    ARROW_RETURN_NOT_OK(OpenNext());
    if (!schema_) return arrow::Status::Invalid("the source offered no stream");
    return arrow::Status::OK();
  }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    while (true) {
      fl::FlightStreamReader* current = nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        current = current_.get();
      }
      if (current == nullptr) return arrow::Status::OK();
      ARROW_ASSIGN_OR_RAISE(auto chunk, current->Next());
      if (chunk.data != nullptr) {
        if (!chunk.data->schema()->Equals(*schema_, /*check_metadata=*/false)) {
          return SchemaChanged(*chunk.data->schema());
        }
        *out = std::move(chunk.data);
        return arrow::Status::OK();
      }
      ARROW_RETURN_NOT_OK(OpenNext());
    }
  }

  void Cancel() {
    std::shared_ptr<StreamOpening> opening;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_ = true;
      if (current_) current_->Cancel();
      opening = opening_;
    }
    if (opening) opening->Abandon();
  }

 private:
  arrow::Status SchemaChanged(const arrow::Schema& got) const {
    return arrow::Status::Invalid("the source sent a stream whose schema (", got.ToString(),
                                  ") is not the one it announced (", schema_->ToString(),
                                  "): nothing of it is committed");
  }

  // The stream of `ticket`. Arrow's DoGet returns once the peer has sent the schema, in
  // a call nothing can cancel: a source that never sent one held the copy, its admission
  // slot and the server's stop. It runs on a thread of its own while this one waits for
  // it or for the copy's cancellation; a cancelled copy leaves the thread to end with
  // the peer's answer, whose stream it cancels then. At most kMaxStreamOpens such threads
  // are alive at once.
  arrow::Result<std::unique_ptr<fl::FlightStreamReader>> Open(const fl::Ticket& ticket) {
    if (stream_opens_->fetch_add(1) >= TransferPolicy::kMaxStreamOpens) {
      stream_opens_->fetch_sub(1);
      return ServerBusy("server busy: ", TransferPolicy::kMaxStreamOpens, " copies wait for "
                        "their sources to begin a stream; retry later");
    }
    auto opening = std::make_shared<StreamOpening>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cancelled_) {
        stream_opens_->fetch_sub(1);
        return arrow::Status::Cancelled("the copy was cancelled");
      }
      opening_ = opening;  // Cancel() abandons it from here on
    }
    auto open = [peer = peer_, ticket, opening, opens = stream_opens_] {
      auto stream = peer->client->DoGet(peer->options, ticket);
      {
        std::lock_guard<std::mutex> lock(opening->mutex);
        if (!opening->abandoned) {
          opening->stream = std::move(stream);
          opening->done = true;
          opening->changed.notify_all();
        } else if (stream.ok()) {
          (*stream)->Cancel();
        }
      }
      opens->fetch_sub(1);
    };
    try {
      std::thread(std::move(open)).detach();
    } catch (const std::system_error& e) {
      stream_opens_->fetch_sub(1);
      return arrow::Status::IOError("cannot start a thread to open the source's stream: ",
                                    e.what());
    }
    std::unique_lock<std::mutex> lock(opening->mutex);
    opening->changed.wait(lock, [&opening] { return opening->done || opening->abandoned; });
    if (!opening->done) {
      return arrow::Status::Cancelled("the copy was cancelled before its source began "
                                      "its stream");
    }
    return std::move(opening->stream);
  }

  // Ends the current stream and opens the next ticket's (none left: end of data).
  arrow::Status OpenNext() {
    std::unique_ptr<fl::FlightStreamReader> next;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cancelled_) return arrow::Status::Cancelled("the copy was cancelled");
    }
    if (next_ticket_ < tickets_.size()) {
      ARROW_ASSIGN_OR_RAISE(next, Open(tickets_[next_ticket_++]));
    }
    fl::FlightStreamReader* opened = next.get();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      current_ = std::move(next);
      if (cancelled_ && current_) current_->Cancel();
    }
    if (opened == nullptr) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto got, opened->GetSchema());
    if (!schema_) {
      schema_ = got;
    } else if (!got->Equals(*schema_, /*check_metadata=*/false)) {
      return SchemaChanged(*got);
    }
    return arrow::Status::OK();
  }

  std::shared_ptr<PeerConnection> peer_;
  std::vector<fl::Ticket> tickets_;
  size_t next_ticket_ = 0;
  std::shared_ptr<arrow::Schema> schema_;
  const std::shared_ptr<std::atomic<int>> stream_opens_;  // TransferPolicy::stream_opens
  std::mutex mutex_;  // guards the three below (Cancel comes from another thread)
  std::unique_ptr<fl::FlightStreamReader> current_;
  std::shared_ptr<StreamOpening> opening_;  // the last stream opened
  bool cancelled_ = false;
};

// The source's plan of a copy by table or SQL: its endpoints' tickets and its schema.
// Planning at the source is bounded; the stream that follows only by timeout_s.
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
  ingest::IngestRequest request;
  ARROW_ASSIGN_OR_RAISE(request.table, StringOf(doc, "target_table"));
  if (request.table.empty()) request.table = source_table;
  if (request.table.empty()) return arrow::Status::Invalid("copy_from needs 'target_table'");
  ARROW_RETURN_NOT_OK(ValidateName("target_table", request.table));
  request.stream = request.table;
  request.protocol = "flight-copy";
  request.server_reads_source = true;
  // A small action makes the peer send any number of rows: under the query deadline.
  request.under_query_deadline = true;
  ARROW_ASSIGN_OR_RAISE(auto mode, StringOf(doc, "mode"));
  if (!mode.empty()) {
    ARROW_ASSIGN_OR_RAISE(request.mode, ingest::ParseWriteMode(mode));
  }
  ARROW_ASSIGN_OR_RAISE(auto commit, StringOf(doc, "commit"));
  if (!commit.empty()) {
    ARROW_ASSIGN_OR_RAISE(request.commit, config::ParseCommitMode(commit));
  }
  ARROW_ASSIGN_OR_RAISE(request.request_id, StringOf(doc, "request_id"));
  ARROW_ASSIGN_OR_RAISE(auto address, ParsePeerAddress(source));
  ARROW_ASSIGN_OR_RAISE(auto credentials, CredentialsFromJson(doc));
  record->fields.push_back({"source", address.host_port});
  record->fields.push_back({"table", request.table});

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
    auto reader = std::make_shared<PeerStreamReader>(peer, std::move(tickets), announced,
                                                     deps.policy->stream_opens());
    // A call that ends (client gone, shutdown) stops the read from the peer too.
    CallCancellation::Subscription stop;
    if (call.cancellation) {
      stop = CallCancellation::OnCancel(call.cancellation, [reader] { reader->Cancel(); });
    }
    ARROW_RETURN_NOT_OK(reader->Start());
    return deps.ingest->Ingest(request, reader, {}, call);
  }();
  ARROW_RETURN_NOT_OK(InContext(copied.status(), "copy_from", address.host_port));
  record->fields.push_back({"rows", std::to_string(copied->rows)});
  json summary = json::parse(IngestSummaryJson(*copied));
  summary["source"] = address.host_port;
  return summary.dump();
}

}  // namespace arrowport::flight
