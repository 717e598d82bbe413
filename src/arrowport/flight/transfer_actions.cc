// The copy_from and copy_to actions (transfer.h): one stream between two servers, through
// this server's own ingest and query pipelines.

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
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

// How long a source may take to plan a copy's query (GetFlightInfo) or a peer to answer.
constexpr double kPlanningSeconds = 120.0;
// How long a copy_to may take when neither its body nor limits.query_timeout_s says.
constexpr double kDefaultPushSeconds = 3600.0;

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
  PeerStreamReader(std::shared_ptr<PeerConnection> peer, std::vector<fl::Ticket> tickets,
                   std::shared_ptr<arrow::Schema> announced)
      : peer_(std::move(peer)), tickets_(std::move(tickets)), schema_(std::move(announced)) {}

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
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
    if (current_) current_->Cancel();
  }

 private:
  arrow::Status SchemaChanged(const arrow::Schema& got) const {
    return arrow::Status::Invalid("the source sent a stream whose schema (", got.ToString(),
                                  ") is not the one it announced (", schema_->ToString(),
                                  "): nothing of it is committed");
  }

  // Ends the current stream and opens the next ticket's (none left: end of data). The
  // new stream is published before its schema is awaited: a source that never sends one
  // is then cancelled too.
  arrow::Status OpenNext() {
    std::unique_ptr<fl::FlightStreamReader> next;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cancelled_) return arrow::Status::Cancelled("the copy was cancelled");
    }
    if (next_ticket_ < tickets_.size()) {
      ARROW_ASSIGN_OR_RAISE(next, peer_->client->DoGet(peer_->options, tickets_[next_ticket_++]));
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
  std::mutex mutex_;  // guards current_ and cancelled_ (Cancel comes from another thread)
  std::unique_ptr<fl::FlightStreamReader> current_;
  bool cancelled_ = false;
};

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

// The answer to one GetFlightInfo, filled on gRPC's threads and awaited on the caller's.
// It lives apart from the listener: Arrow Flight drops its listener's last reference on a
// gRPC thread after an atomic decrement compiled into libarrow_flight, which ThreadSanitizer
// cannot see, so state the caller touched must not be destroyed with the listener. Every
// reference to this one is taken and dropped in our code.
struct PlanAnswer {
  std::mutex mutex;  // guards everything below
  std::condition_variable finished_cv;
  bool finished = false;
  arrow::Status status;
  std::unique_ptr<fl::FlightInfo> info;
};

// The answer to one GetFlightInfo made with gRPC's asynchronous API, which (unlike the
// blocking call) can be cancelled: a source that never answers then holds neither the
// copy nor its admission slot once the caller has gone.
class FlightInfoListener : public fl::AsyncListener<fl::FlightInfo> {
 public:
  explicit FlightInfoListener(std::shared_ptr<PlanAnswer> answer) : answer_(std::move(answer)) {}
  void OnNext(fl::FlightInfo info) override {
    std::lock_guard<std::mutex> lock(answer_->mutex);
    answer_->info = std::make_unique<fl::FlightInfo>(std::move(info));
  }
  void OnFinish(arrow::Status status) override {
    std::lock_guard<std::mutex> lock(answer_->mutex);
    answer_->status = std::move(status);
    answer_->finished = true;
    answer_->finished_cv.notify_all();
  }

 private:
  const std::shared_ptr<PlanAnswer> answer_;
};

// The source's GetFlightInfo, ended early when `call` is cancelled.
arrow::Result<std::unique_ptr<fl::FlightInfo>> PlanAtSource(
    const PeerConnection& peer, const fl::FlightCallOptions& options,
    const fl::FlightDescriptor& descriptor, const CallContext& call) {
  auto answer = std::make_shared<PlanAnswer>();
  auto listener = std::make_shared<FlightInfoListener>(answer);
  peer.client->GetFlightInfoAsync(options, descriptor, listener);
  CallCancellation::Subscription stop;
  if (call.cancellation) {
    stop = CallCancellation::OnCancel(call.cancellation,
                                      [listener] { listener->TryCancel(); });
  }
  std::unique_lock<std::mutex> lock(answer->mutex);
  answer->finished_cv.wait(lock, [&answer] { return answer->finished; });
  ARROW_RETURN_NOT_OK(answer->status);
  if (!answer->info) {
    return arrow::Status::IOError("the source answered GetFlightInfo with nothing");
  }
  return std::move(answer->info);
}

// "timeout_s": how long the whole transfer may take (absent: no limit).
arrow::Result<fl::TimeoutDuration> TimeoutOf(const json& doc) {
  auto it = doc.find("timeout_s");
  if (it == doc.end() || it->is_null()) return fl::TimeoutDuration{-1.0};
  if (!it->is_number() || it->get<double>() <= 0) {
    return arrow::Status::Invalid("'timeout_s' must be a positive number of seconds");
  }
  return fl::TimeoutDuration{it->get<double>()};
}

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
      // Planning at the source is bounded; the stream that follows only by timeout_s.
      auto planning = peer->options;
      if (planning.timeout.count() < 0) planning.timeout = fl::TimeoutDuration{kPlanningSeconds};
      ARROW_ASSIGN_OR_RAISE(
          auto info,
          PlanAtSource(*peer, planning, fl::FlightDescriptor::Command(cmd.dump()), call));
      arrow::ipc::DictionaryMemo memo;
      ARROW_ASSIGN_OR_RAISE(announced, info->GetSchema(&memo));
      for (const auto& endpoint : info->endpoints()) tickets.push_back(endpoint.ticket);
    }
    auto reader = std::make_shared<PeerStreamReader>(peer, std::move(tickets), announced);
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

arrow::Result<std::string> CopyTo(const TransferDeps& deps, const std::string& body,
                                  const CallContext& call, CallRecord* record) {
  ARROW_ASSIGN_OR_RAISE(auto doc, ParseBody(body, "copy_to"));
  ARROW_RETURN_NOT_OK(OnlyKnownKeys(doc, "copy_to",
                                    {"target", "sql", "source_table", "target_table", "mode",
                                     "commit", "request_id", "user", "password", "token",
                                     "tls_ca", "timeout_s"}));
  ARROW_ASSIGN_OR_RAISE(auto timeout, TimeoutOf(doc));
  if (timeout.count() < 0) {
    // Never unbounded: a target that stops reading would hold the action for good.
    timeout = fl::TimeoutDuration{deps.query_timeout_s > 0
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
  json put = {{"stream", target_table}, {"table", target_table}, {"sealed", true}};
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
  json peer_summary;
  auto pushed = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto peer, ConnectPeer(*deps.policy, address, credentials,
                                                 deps.max_message_bytes));
    peer.options.timeout = timeout;
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
    ARROW_ASSIGN_OR_RAISE(auto results, deps.query->Execute(query, call));
    ARROW_ASSIGN_OR_RAISE(auto stream, peer.client->DoPut(peer.options,
                                                          fl::FlightDescriptor::Command(put.dump()),
                                                          results->schema()));
    // The target acknowledges as it commits: read those on the side, so its replies never
    // wait for ours, and keep its summary (the one with "table" and "seconds").
    std::mutex acks_mutex;
    JoiningThread acks([&] {
      while (true) {
        // Fresh each time: once the stream is finished, ReadMetadata leaves it untouched.
        std::shared_ptr<arrow::Buffer> metadata;
        if (!stream.reader->ReadMetadata(&metadata).ok() || metadata == nullptr) break;
        auto doc = json::parse(metadata->ToString(), nullptr, /*allow_exceptions=*/false);
        if (!doc.is_object() || !doc.contains("table") || !doc.contains("seconds")) continue;
        std::lock_guard<std::mutex> lock(acks_mutex);
        peer_summary = std::move(doc);
      }
    });
    auto* writer = stream.writer.get();
    auto sent = [&]() -> arrow::Status {
      while (true) {
        ARROW_RETURN_NOT_OK(check_stopped());
        std::shared_ptr<arrow::RecordBatch> batch;
        ARROW_RETURN_NOT_OK(results->ReadNext(&batch));
        if (batch == nullptr) break;
        ARROW_RETURN_NOT_OK(check_stopped());
        rows += batch->num_rows();
        ++batches;
        ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
      }
      // Everything was read: only now the marker that lets the target commit.
      ARROW_RETURN_NOT_OK(check_stopped());
      return writer->WriteMetadata(arrow::Buffer::FromString(kUploadEndMarker));
    }();
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
  }();
  ARROW_RETURN_NOT_OK(InContext(pushed, "copy_to", address.host_port));
  record->fields.push_back({"rows", std::to_string(rows)});
  json summary = PushSummary(peer_summary, rows, batches);
  record->fields.push_back(
      {"committed", summary["committed"].is_null() ? "unknown" : "true"});
  summary["target"] = address.host_port;
  summary["seconds_total"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary.dump();
}

}  // namespace arrowport::flight
