#include "arrowport/http/result_response.h"

#include <chrono>
#include <functional>

#include "arrow/io/compressed.h"
#include "arrow/record_batch.h"
#include "arrow/util/compression.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/http/chunked_body_stream.h"
#include "arrowport/http/deadline_socket_stream.h"
#include "arrowport/http/first_batch_reader.h"
#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_call.h"
#include "arrowport/http/http_errors.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/http/negotiation.h"
#include "arrowport/http/response_meter.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/query/result_writer.h"

namespace arrowport::http {

namespace {

// An HTTP/1.0 request: its response must not be chunked (RFC 9112 6.1).
bool KnowsNoChunks(const httplib::Request& req) { return req.version == "HTTP/1.0"; }

// A result body's headers: chunked transfer coding, framed by ChunkedBodyStream (httplib's
// own copies each write twice, so httplib is handed a body without length and sends it as
// given), or for HTTP/1.0 a body that the connection's close ends; and the compression
// the client's Accept-Encoding gets for `format`.
arrow::Compression::type SetBodyHeaders(const httplib::Request& req, httplib::Response& res,
                                        query::ResultFormat format, CompressionRule rule) {
  if (KnowsNoChunks(req)) {
    res.set_header("Connection", "close");
  } else {
    res.set_header("Transfer-Encoding", "chunked");
  }
  res.set_header("Accept-Ranges", "none");
  // The body's coding depends on the request's Accept-Encoding (and its peer): a cache
  // keeps one answer per coding asked.
  if (format != query::ResultFormat::kParquet && rule != CompressionRule::kNever) {
    res.set_header("Vary", "Accept-Encoding");
  }
  const auto compression = ResponseCompression(req, format, rule);
  if (compression == arrow::Compression::ZSTD) res.set_header("Content-Encoding", "zstd");
  if (compression == arrow::Compression::GZIP) res.set_header("Content-Encoding", "gzip");
  return compression;
}

// A result body that did not reach its end, whatever stopped it: the writer's error, or
// httplib never asking for it (a client that half-closed after its request looks gone).
// Without chunks (HTTP/1.0) the connection is cut, else its close would end the body in
// order, as an empty or shorter result (DeadlineSocketStream::Cut). Runs on the
// connection's thread when httplib drops the response, before the connection closes.
class UnfinishedBody {
 public:
  UnfinishedBody(bool chunked, std::function<void()> log_unsent)
      : chunked_(chunked), log_unsent_(std::move(log_unsent)) {}
  ~UnfinishedBody() {
    if (finished_) return;
    if (!started_) log_unsent_();
    if (chunked_) return;
    if (auto* stream = DeadlineSocketStream::Current()) stream->Cut();
  }
  void Started() { started_ = true; }
  void Finished() { finished_ = true; }

 private:
  const bool chunked_;
  std::function<void()> log_unsent_;
  bool started_ = false;
  bool finished_ = false;
};

// A format or encoding the client asked for that the server cannot give: 406.
void SendNegotiationError(httplib::Response& res, const arrow::Status& status) {
  HttpError error = ToHttpError(status);
  if (status.IsNotImplemented()) error = {406, "not_acceptable", status.message()};
  SendError(res, error);
}

// HEAD: headers only, what a GET would answer (404 for a missing table), nothing run.
void AnswerHead(const GatewayContext& ctx, const httplib::Request& req,
                httplib::Response& res, const query::QueryRequest& request,
                const CallContext& call, const Negotiated& negotiated,
                std::chrono::steady_clock::time_point start) {
  auto schema = ctx.deps().query->Describe(request, call);
  arrow::Status fits = schema.ok() ? query::CheckFormatFits(*schema, negotiated.format)
                                   : schema.status();
  ctx.Log(req, fits, start);
  if (!schema.ok()) return SendStatus(res, schema.status());
  if (!fits.ok()) return SendStatus(res, fits);
  // GET's headers (RFC 9110 9.3.2): chunked, its Content-Encoding, no length. A
  // provider that httplib never calls for HEAD keeps it from adding Content-Length: 0.
  res.status = 200;
  SetBodyHeaders(req, res, negotiated.format, ctx.deps().compression);
  res.set_content_provider(negotiated.content_type,
                           [](size_t, httplib::DataSink&) { return false; });
}

// The result written into `body` in `format`, compressed as negotiated, and the body
// finished; the rows written.
arrow::Result<int64_t> WriteResultBody(arrow::RecordBatchReader* batches,
                                       query::ResultFormat format,
                                       arrow::Compression::type compression,
                                       int zstd_level,
                                       const std::shared_ptr<ChunkedBodyStream>& body) {
  std::shared_ptr<arrow::io::OutputStream> out = body;
  std::unique_ptr<arrow::util::Codec> codec;
  if (compression != arrow::Compression::UNCOMPRESSED) {
    // gzip at its default (maximum) level crawls on repetitive columnar data; level 1
    // keeps it near wire speed. zstd uses the configured level.
    const int level = compression == arrow::Compression::GZIP ? 1 : zstd_level;
    ARROW_ASSIGN_OR_RAISE(codec, arrow::util::Codec::Create(compression, level));
    ARROW_ASSIGN_OR_RAISE(out, arrow::io::CompressedOutputStream::Make(codec.get(), out));
  }
  ARROW_ASSIGN_OR_RAISE(auto rows, query::WriteResult(batches, format, out));
  ARROW_RETURN_NOT_OK(out->Close());
  ARROW_RETURN_NOT_OK(body->Finish());
  return rows;
}

// Why a body was cut: the call's cancellation when it was cancelled (its deadline, the
// server's stop, the client gone: the server's last resort shuts the socket of a call
// still writing 5 s after it), else the write's own failure.
arrow::Status WhyCut(const HttpCall& call, const arrow::Status& st) {
  const auto& cancellation = call.context().cancellation;
  if (!cancellation) return st;
  // After the status line, a call cancelled for no kind of reason (the watchdog's "client
  // went away", which HTTP has no deadline to mean otherwise) is a client that left: 499.
  const arrow::Status reason = cancellation->reason();
  if (!reason.ok() && GetErrorKind(reason) == nullptr) return ClientGone(reason.message());
  return cancellation->Explain(st);
}

// A first batch's values the format cannot write, found before the status line.
std::function<arrow::Status(const arrow::RecordBatch*)> ValuesFit(query::ResultFormat format) {
  return [format](const arrow::RecordBatch* first) {
    return query::CheckValuesFit(first, format);
  };
}

}  // namespace

// Streams a query result as the negotiated format, compressed if the client asked.
void StreamResult(const GatewayContext& ctx, const httplib::Request& req,
                  httplib::Response& res, const query::QueryRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  auto negotiated = Negotiate(req);
  if (!negotiated.ok()) return SendNegotiationError(res, negotiated.status());
  auto allowed = HttpAuthorizer::Read(res, request);
  if (!allowed.ok()) {
    ctx.Log(req, allowed, start);
    return SendStatus(res, allowed);
  }
  // A result has no length until it has streamed, so no byte range can be cut from it:
  // a Range is ignored (RFC 9110 allows it) and the whole body sent. httplib would answer
  // 416 itself, with the chunked header set below over a body it does not frame.
  const_cast<httplib::Request&>(req).ranges.clear();
  auto call = ctx.BeginCall(res, /*query=*/true);
  if (!call.ok()) {
    ctx.Log(req, call.status(), start);
    return SendStatus(res, call.status());
  }
  if (req.method == "HEAD") {
    return AnswerHead(ctx, req, res, request, (*call)->context(), *negotiated, start);
  }
  auto reader = ctx.deps().query->Execute(request, (*call)->context());
  const auto format = negotiated->format;
  // A format that cannot hold the result's columns is the client's choice to change: said
  // now, not as a body cut at its start.
  if (reader.ok()) {
    auto fits = query::CheckFormatFits((*reader)->schema(), format);
    reader = fits.ok() ? ReadFirstBatchAhead(*reader, ValuesFit(format))
                       : arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>(fits);
  }
  if (!reader.ok()) {
    ctx.Log(req, reader.status(), start);
    SendStatus(res, reader.status());
    return;
  }
  const auto compression = SetBodyHeaders(req, res, negotiated->format, ctx.deps().compression);
  res.status = 200;
  auto batches = *reader;
  const std::string path = req.path;
  const std::string method = req.method;
  const std::string user = HttpAuthorizer::UserName(req);
  const bool chunked = !KnowsNoChunks(req);
  // A body cut after its 200 is a failed call too: in the log, and in the meter, which
  // the provider holds so that it is counted once the outcome is set.
  auto meter = SharedCallMeterOf(res);
  auto log_cut = [&ctx, path, method, user, start, meter](const arrow::Status& cut) {
    ctx.Log(method.c_str(), path, cut, start, {{"user", user}});
    if (meter) meter->SetOutcome(std::to_string(ToHttpError(cut).status), cut.message());
  };
  auto log_unsent = [log_cut] { log_cut(ClientGone("the client left before the body")); };
  auto unfinished = std::make_shared<UnfinishedBody>(chunked, std::move(log_unsent));
  res.set_content_provider(
      negotiated->content_type,
      // The call (permit, watch) lives with the provider: until the body has been
      // written or abandoned.
      [&ctx, batches, format, compression, path, method, user, start, chunked, unfinished,
       log_cut, call = *call](size_t, httplib::DataSink& sink) {
        unfinished->Started();
        auto body = std::make_shared<ChunkedBodyStream>(&sink, 64 << 10, chunked);
        auto st = [&]() -> arrow::Status {
          ARROW_ASSIGN_OR_RAISE(auto rows,
                                WriteResultBody(batches.get(), format, compression,
                                                ctx.deps().compression_level, body));
          ctx.Log(method.c_str(), path, arrow::Status::OK(), start,
                  {{"user", user}, {"rows", std::to_string(rows)}});
          return arrow::Status::OK();
        }();
        if (!st.ok()) {
          // Headers are gone already: the body ends without its last chunk, so the client
          // sees an error; without chunks (HTTP/1.0), with a reset (UnfinishedBody).
          (void)body->Abort();
          log_cut(WhyCut(*call, st));
          return false;
        }
        unfinished->Finished();
        sink.done();
        return true;
      });
}


arrow::Result<query::QueryRequest> TableRequest(const httplib::Request& req,
                                              const std::string& name) {
  query::QueryRequest request;
  ARROW_RETURN_NOT_OK(ValidateName("table", name));
  request.table = name;
  if (req.has_param("columns")) {
    const std::string list = req.get_param_value("columns");
    size_t start = 0;
    while (start <= list.size()) {
      size_t end = list.find(',', start);
      if (end == std::string::npos) end = list.size();
      std::string column = list.substr(start, end - start);
      ARROW_RETURN_NOT_OK(ValidateName("column", column));
      request.columns.push_back(std::move(column));
      start = end + 1;
    }
  }
  if (req.has_param("limit")) {
    const std::string text = req.get_param_value("limit");
    char* end = nullptr;
    const long long limit = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || limit < 0) {
      return arrow::Status::Invalid("limit must be a non-negative integer, got '", text, "'");
    }
    request.limit = limit;
  }
  return request;
}


}  // namespace arrowport::http
