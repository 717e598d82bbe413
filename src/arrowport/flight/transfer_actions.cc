// The copy_from and copy_to actions (transfer.h): one stream between two servers, through
// this server's own ingest and query pipelines.

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <thread>

#include "arrow/record_batch.h"
#include "arrow/util/cancel.h"
#include "arrowport/common/identifier.h"
#include "arrowport/flight/call_runner.h"
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

arrow::Result<json> ParseBody(const std::string& body, const char* action) {
  auto doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return arrow::Status::Invalid(action, ": the action body must be a JSON object");
  }
  return doc;
}

arrow::Result<std::string> StringOf(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::string();
  if (!it->is_string()) return arrow::Status::Invalid("'", key, "' must be a string");
  return it->get<std::string>();
}

arrow::Status OnlyKnownKeys(const json& doc, const char* action,
                            std::initializer_list<const char*> known) {
  for (const auto& item : doc.items()) {
    bool found = false;
    for (const char* k : known) found = found || item.key() == k;
    if (found) continue;
    std::string list;
    for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
    return arrow::Status::Invalid(action, ": unknown field '", item.key(), "' (known: ", list,
                                  ")");
  }
  return arrow::Status::OK();
}

// The rows a peer's DoGet streams: the endpoints of a FlightInfo one after the other
// (or one raw ticket), each stream checked against the schema the peer announced.
// Cancel() (any thread) ends the read in progress.
class PeerStreamReader : public arrow::RecordBatchReader {
 public:
  static arrow::Result<std::shared_ptr<PeerStreamReader>> Open(
      std::shared_ptr<PeerConnection> peer, std::vector<fl::Ticket> tickets,
      std::shared_ptr<arrow::Schema> announced) {
    auto reader = std::shared_ptr<PeerStreamReader>(
        new PeerStreamReader(std::move(peer), std::move(tickets), std::move(announced)));
    ARROW_RETURN_NOT_OK(reader->OpenNext());
    if (!reader->schema_) return arrow::Status::Invalid("the source offered no stream");
    return reader;
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
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
    if (current_) current_->Cancel();
  }

 private:
  PeerStreamReader(std::shared_ptr<PeerConnection> peer, std::vector<fl::Ticket> tickets,
                   std::shared_ptr<arrow::Schema> announced)
      : peer_(std::move(peer)), tickets_(std::move(tickets)), schema_(std::move(announced)) {}

  arrow::Status SchemaChanged(const arrow::Schema& got) const {
    return arrow::Status::Invalid("the source sent a stream whose schema (", got.ToString(),
                                  ") is not the one it announced (", schema_->ToString(),
                                  "): nothing of it is committed");
  }

  // Ends the current stream and opens the next ticket's (none left: end of data).
  arrow::Status OpenNext() {
    std::unique_ptr<fl::FlightStreamReader> next;
    if (next_ticket_ < tickets_.size()) {
      ARROW_ASSIGN_OR_RAISE(next, peer_->client->DoGet(peer_->options, tickets_[next_ticket_++]));
      ARROW_ASSIGN_OR_RAISE(auto got, next->GetSchema());
      if (!schema_) {
        schema_ = got;
      } else if (!got->Equals(*schema_, /*check_metadata=*/false)) {
        return SchemaChanged(*got);
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = std::move(next);
    if (cancelled_ && current_) current_->Cancel();
    return arrow::Status::OK();
  }

  std::shared_ptr<PeerConnection> peer_;
  std::vector<fl::Ticket> tickets_;
  size_t next_ticket_ = 0;
  std::shared_ptr<arrow::Schema> schema_;
  std::mutex mutex_;  // guards current_ and cancelled_ (Cancel comes from another thread)
  std::unique_ptr<fl::FlightStreamReader> current_;
  bool cancelled_ = false;
};

// The prefix every copy error gets: which action, which peer.
arrow::Status InContext(const arrow::Status& st, const char* action, const std::string& peer) {
  if (st.ok()) return st;
  std::string message = st.message();
  const auto debug = message.find(". gRPC client debug context");
  if (debug != std::string::npos) message.resize(debug);
  return st.WithMessage(action, " ", peer, ": ", message);
}

}  // namespace

arrow::Result<std::string> CopyFrom(const TransferDeps& deps, const std::string& body,
                                    const CallContext& call, CallRecord* record) {
  ARROW_ASSIGN_OR_RAISE(auto doc, ParseBody(body, "copy_from"));
  ARROW_RETURN_NOT_OK(OnlyKnownKeys(doc, "copy_from",
                                    {"source", "ticket", "sql", "source_table", "target_table",
                                     "mode", "commit", "request_id", "user", "password", "token",
                                     "tls_ca"}));
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
    ARROW_ASSIGN_OR_RAISE(auto connected, ConnectPeer(*deps.policy, address, credentials));
    auto peer = std::make_shared<PeerConnection>(std::move(connected));
    std::vector<fl::Ticket> tickets;
    std::shared_ptr<arrow::Schema> announced;
    if (!ticket.empty()) {
      tickets.push_back(fl::Ticket{ticket});
    } else {
      // Arrowport's descriptor form; the peer announces the schema and its endpoints.
      const json cmd = sql.empty() ? json{{"table", source_table}} : json{{"sql", sql}};
      // Planning at the source is bounded; the stream that follows is not.
      auto planning = peer->options;
      planning.timeout = fl::TimeoutDuration{kPlanningSeconds};
      ARROW_ASSIGN_OR_RAISE(auto info, peer->client->GetFlightInfo(
                                           planning, fl::FlightDescriptor::Command(cmd.dump())));
      arrow::ipc::DictionaryMemo memo;
      ARROW_ASSIGN_OR_RAISE(announced, info->GetSchema(&memo));
      for (const auto& endpoint : info->endpoints()) tickets.push_back(endpoint.ticket);
    }
    ARROW_ASSIGN_OR_RAISE(auto reader,
                          PeerStreamReader::Open(peer, std::move(tickets), announced));
    // A call that ends (client gone, shutdown) stops the read from the peer too.
    CallCancellation::Subscription stop;
    if (call.cancellation) {
      stop = CallCancellation::OnCancel(call.cancellation, [reader] { reader->Cancel(); });
    }
    return deps.ingest->Ingest(request, reader, {}, call);
  }();
  ARROW_RETURN_NOT_OK(InContext(copied.status(), "copy_from", address.host_port));
  record->fields.push_back({"rows", std::to_string(copied->rows)});
  json summary = json::parse(IngestSummaryJson(*copied));
  summary["source"] = address.host_port;
  return summary.dump();
}

arrow::Result<std::string> CopyTo(const TransferDeps& deps, const std::string& body,
                                  const CallContext& call, CallRecord* record) {
  ARROW_ASSIGN_OR_RAISE(auto doc, ParseBody(body, "copy_to"));
  ARROW_RETURN_NOT_OK(OnlyKnownKeys(doc, "copy_to",
                                    {"target", "sql", "source_table", "target_table", "mode",
                                     "commit", "request_id", "user", "password", "token",
                                     "tls_ca"}));
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
  json put = {{"stream", target_table}, {"table", target_table}};
  for (const char* key : {"mode", "commit", "request_id"}) {
    ARROW_ASSIGN_OR_RAISE(auto value, StringOf(doc, key));
    if (!value.empty()) put[key] = value;
  }
  query::QueryRequest query;
  query.sql = sql;
  query.table = source_table;
  if (!query.table.empty()) ARROW_RETURN_NOT_OK(ValidateName("source_table", query.table));
  ARROW_ASSIGN_OR_RAISE(auto address, ParsePeerAddress(target));
  ARROW_ASSIGN_OR_RAISE(auto credentials, CredentialsFromJson(doc));
  record->fields.push_back({"target", address.host_port});
  record->fields.push_back({"table", target_table});

  const auto start = std::chrono::steady_clock::now();
  int64_t rows = 0, batches = 0;
  std::string peer_summary;
  auto pushed = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto peer, ConnectPeer(*deps.policy, address, credentials));
    ARROW_ASSIGN_OR_RAISE(auto results, deps.query->Execute(query, call));
    // Stopping cancels the DoPut: the target then commits nothing of it.
    arrow::StopSource stop_put;
    peer.options.stop_token = stop_put.token();
    ARROW_ASSIGN_OR_RAISE(auto stream, peer.client->DoPut(peer.options,
                                                          fl::FlightDescriptor::Command(put.dump()),
                                                          results->schema()));
    // The target acknowledges as it commits: read those on the side, keep the last (its
    // summary), so its replies never wait for ours.
    std::mutex acks_mutex;
    std::thread acks([&] {
      std::shared_ptr<arrow::Buffer> metadata;
      while (stream.reader->ReadMetadata(&metadata).ok() && metadata != nullptr) {
        std::lock_guard<std::mutex> lock(acks_mutex);
        peer_summary = metadata->ToString();
      }
    });
    CallCancellation::Subscription stop;
    if (call.cancellation) {
      stop = CallCancellation::OnCancel(call.cancellation, [&stop_put] { stop_put.RequestStop(); });
    }
    auto* writer = stream.writer.get();
    auto sent = [&]() -> arrow::Status {
      while (true) {
        std::shared_ptr<arrow::RecordBatch> batch;
        ARROW_RETURN_NOT_OK(results->ReadNext(&batch));
        if (batch == nullptr) break;
        rows += batch->num_rows();
        ++batches;
        ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
      }
      return writer->DoneWriting();
    }();
    // The target commits nothing of a stream that ends in an error: cancel it.
    if (!sent.ok()) stop_put.RequestStop();
    auto closed = stream.writer->Close();
    acks.join();
    stop.Reset();
    ARROW_RETURN_NOT_OK(sent);
    return closed;
  }();
  ARROW_RETURN_NOT_OK(InContext(pushed, "copy_to", address.host_port));
  record->fields.push_back({"rows", std::to_string(rows)});
  auto parsed = json::parse(peer_summary, nullptr, /*allow_exceptions=*/false);
  json summary = parsed.is_object() ? parsed : json::object();
  if (!summary.contains("rows")) {
    summary["rows"] = rows;
    summary["batches"] = batches;
    summary["committed"] = true;
  }
  summary["target"] = address.host_port;
  summary["seconds_total"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary.dump();
}

}  // namespace arrowport::flight
