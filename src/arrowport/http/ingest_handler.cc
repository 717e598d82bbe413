#include "arrowport/http/ingest_handler.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "arrow/ipc/reader.h"
#include "arrow/record_batch.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/capped_memory_pool.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/http/body_decode_reader.h"
#include "arrowport/http/body_pipe.h"
#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/http/negotiation.h"
#include "arrowport/http/deadline_socket_stream.h"
#include "arrowport/http/owned_worker.h"
#include "arrowport/http/request_body.h"
#include "arrowport/ingest/ingest_pipeline.h"

namespace arrowport::http {

using json = nlohmann::json;

namespace {

constexpr int64_t kPipeBytes = 8 << 20;  // request body buffered ahead of DuckDB
// Decoded batches alive at once per request: the ingest pipeline's read-ahead (4) plus
// the batch being decoded and the one DuckDB is scanning.
constexpr int64_t kIngestBatchesInFlight = 6;

// The request's id: `?request_id=` or the Idempotency-Key header, given any number of
// times but as one id. Two ids for one request were taken as whichever came first, so a
// retry carrying only another of them was written again.
arrow::Result<std::string> RequestIdOf(const httplib::Request& req) {
  std::string id;
  bool given = false;
  auto take = [&](const std::string& value) -> arrow::Status {
    if (given && value != id) {
      return arrow::Status::Invalid(
          "the request carries two ids (the Idempotency-Key header and ?request_id=, or "
          "one of them twice) that differ: send one id");
    }
    id = value;
    given = true;
    return arrow::Status::OK();
  };
  for (size_t i = 0; i < req.get_param_value_count("request_id"); ++i) {
    ARROW_RETURN_NOT_OK(take(req.get_param_value("request_id", i)));
  }
  for (size_t i = 0; i < req.get_header_value_count("Idempotency-Key"); ++i) {
    ARROW_RETURN_NOT_OK(take(req.get_header_value("Idempotency-Key", "", i)));
  }
  return id;
}

// The request the URL and headers describe (stream, table, mode, commit, request id,
// transform), begun as a run: parsed, its names and id checked, its stream routed.
arrow::Result<ingest::IngestRun> BeginRun(const GatewayContext& ctx,
                                          const httplib::Request& req) {
  ingest::RequestFields fields;
  fields.stream = req.matches[1];
  if (req.has_param("table")) fields.table = req.get_param_value("table");
  if (req.has_param("mode")) fields.mode = req.get_param_value("mode");
  if (req.has_param("transform")) fields.transform = req.get_param_value("transform");
  ARROW_ASSIGN_OR_RAISE(fields.request_id, RequestIdOf(req));
  if (req.has_param("commit")) fields.commit = req.get_param_value("commit");
  ARROW_ASSIGN_OR_RAISE(auto request, ingest::ParseRequestFields(fields));
  request.protocol = "http";
  request.answered_at_end = true;  // one answer, after the whole body
  // The body as it came off the connection (compressed, if it was): the compression ratio.
  if (const auto* connection = DeadlineSocketStream::Current()) {
    request.wire_bytes = [connection] { return connection->body_bytes(); };
  }
  return ctx.deps().ingest->Begin(std::move(request));
}

// What pumping one body into the pipeline produced.
struct IngestOutcome {
  arrow::Result<ingest::IngestResult> result = arrow::Status::UnknownError("not run");
  json committed = json::array();  // per_batch: batches committed before any failure
  int64_t received = 0;            // body bytes, after Content-Encoding decompression
  arrow::Status body_too_large;    // set when http.max_body_bytes was passed
  bool body_unread = false;        // the ingest ended before the body did
};

// Runs the ingest on an owned worker that decodes from the pipe while this thread pushes
// the body into it (backpressure: a full pipe blocks the pusher).
IngestOutcome PumpBody(const GatewayContext& ctx, const httplib::Request& req,
                       ingest::IngestRun run, const HttpCall& call,
                       const httplib::ContentReader& content) {
  const auto& deps = ctx.deps();
  IngestOutcome out;
  // Decoding allocates what the sender declares; the request's pool bounds it to a few
  // batches' worth (that many are in flight between the network and DuckDB).
  auto pool = std::make_shared<CappedMemoryPool>(
      arrow::default_memory_pool(), kIngestBatchesInFlight * deps.max_batch_bytes,
      "limits.max_batch_bytes (" + std::to_string(deps.max_batch_bytes) + ")",
      deps.request_memory);
  auto pipe = std::make_shared<BodyPipe>(kPipeBytes, pool.get());
  // The call's end (a reopen, shutdown) ends the ingest and its body's reads: a body
  // trickling a byte every few seconds held the reopen as long as it liked (an attack run).
  const auto& cancellation = call.context().cancellation;
  const auto ingest_ends = CallCancellation::OnCancel(cancellation, [pipe] {
    pipe->Abort(arrow::Status::Cancelled("the call ended before its body did"));
  });
  const DeadlineSocketStream::BodyReadsEndWith reads_end(DeadlineSocketStream::Current(),
                                                         cancellation);
  OwnedWorker worker(
      [&] {
        auto options = arrow::ipc::IpcReadOptions::Defaults();
        options.memory_pool = pool.get();
        auto reader = arrow::ipc::RecordBatchStreamReader::Open(pipe, options);
        if (!reader.ok()) {
          // The body's own end (a stall, a hang-up, a limit) says more than what the IPC
          // reader made of the bytes it got.
          // (The pipeline explains its own failures by the call's end; this one is ours.)
          const arrow::Status aborted = pipe->abort_status();
          out.result = cancellation->Explain(
              !aborted.ok()      ? aborted
              : pool->refused() ? reader.status()
                                : arrow::Status::Invalid("request body is not an Arrow IPC "
                                                         "stream: ",
                                                         reader.status().message()));
        } else {
          auto decoder = std::make_shared<BodyDecodeReader>(*reader, pipe, pool,
                                                            deps.max_batch_bytes);
          // The pipeline validates and reads ahead of DuckDB on a thread of its own.
          out.result = deps.ingest->Ingest(
              std::move(run), decoder,
              [&](int64_t index, int64_t rows) {
                out.committed.push_back({{"batch", index}, {"rows", rows}});
                return arrow::Status::OK();
              },
              call.context());
        }
        (void)pipe->Close();  // stops the body pump if the ingest ended early
      },
      [&] { pipe->Abort(arrow::Status::IOError("the request handler ended early")); });
  const arrow::Status read = ReadBody(req, content, deps.max_body_bytes,
                                      "http.max_body_bytes",
                                      [&](const char* data, size_t length) {
    out.received += static_cast<int64_t>(length);
    if (out.received > deps.max_body_bytes) {
      out.body_too_large = TooLarge("request body exceeds http.max_body_bytes (",
                                    deps.max_body_bytes, " bytes, decompressed)");
      return out.body_too_large;
    }
    if (pipe->Push(data, length)) return arrow::Status::OK();
    return arrow::Status::Cancelled("the ingest stopped reading the body");  // it ended
  }, deps.request_memory.get());  // the decoder charged there, as the batches are (pool)
  out.body_unread = !read.ok();
  if (!out.body_too_large.ok()) {
    pipe->Abort(out.body_too_large);
  } else if (!read.ok() && !pipe->closed()) {
    // A body that did not arrive, or whose coding was corrupt or cut short: the IPC
    // stream may have ended cleanly at a batch boundary, so its end is not taken.
    pipe->Abort(read);
  } else {
    pipe->Finish();
  }
  worker.Join();
  if (!worker.status().ok()) out.result = cancellation->Explain(worker.status());
  return out;
}

}  // namespace

void HandleIngest(const GatewayContext& ctx, const httplib::Request& req,
                  httplib::Response& res, const httplib::ContentReader& content) {
  const auto start = std::chrono::steady_clock::now();
  const std::string stream = req.matches[1];
  auto run = BeginRun(ctx, req);
  if (!run.ok()) {
    ctx.Log(req, run.status(), start, {{"stream", stream}});
    return SendStatus(res, run.status());
  }
  auto allowed =
      HttpAuthorizer::WriteStream(res, run->request().stream, run->request().table);
  if (!allowed.ok()) {
    ctx.Log(req, allowed, start, {{"stream", stream}});
    return SendStatus(res, allowed);
  }
  const std::string type = MediaType(req.get_header_value("Content-Type"));
  if (!type.empty() && type != kArrowStream && type != "application/octet-stream") {
    return SendError(res, {415, "unsupported_media_type",
                           "POST /ingest takes an Arrow IPC stream (Content-Type: " +
                               std::string(kArrowStream) + "), not '" + type + "'"});
  }
  auto call = ctx.BeginCall(res, /*query=*/false);
  if (!call.ok()) {
    ctx.Log(req, call.status(), start, {{"stream", stream}});
    return SendStatus(res, call.status());
  }
  IngestOutcome out = PumpBody(ctx, req, std::move(*run), **call, content);
  // A body over http.max_body_bytes, or the ingest's own failure: either way per_batch
  // lists what it committed (the 413 had no list, and its committed rows stayed unsaid).
  const arrow::Status failed =
      !out.body_too_large.ok() ? out.body_too_large : out.result.status();
  if (!failed.ok()) {
    // A chunked body has no end httplib would stop draining at; a declared length is
    // drained to it, so that a client sending it on reads the answer.
    if (out.body_unread && req.has_header("Transfer-Encoding")) EndUnreadBody();
    ctx.Log(req, failed, start, {{"stream", stream}});
    const HttpError error = ToHttpError(failed);
    json body = json::parse(error.ToJson());
    body["committed_batches"] = out.committed;
    // Through SendError: the status page's recent errors showed this 400 without its
    // message.
    return SendError(res, error, body.dump());
  }
  const auto& result = *out.result;
  const json body = {{"stream", result.stream},   {"table", result.table},
                     {"rows", result.rows},       {"batches", result.batches},
                     {"bytes", out.received},     {"seconds", result.seconds},
                     {"created", result.created}, {"committed", true},
                     {"duplicate", result.duplicate}};
  ctx.Log(req, arrow::Status::OK(), start,
          {{"stream", result.stream},
           {"table", result.table},
           {"rows", std::to_string(result.rows)},
           {"bytes", std::to_string(out.received)}});
  SendJson(res, 200, body.dump());
}

}  // namespace arrowport::http
