#include "arrowport/http/http_gateway.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <limits>
#include <mutex>
#include <thread>

#include "arrow/buffer.h"
#include "arrow/io/buffered.h"
#include "arrow/io/compressed.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/reader.h"
#include "arrow/record_batch.h"
#include "arrow/util/base64.h"
#include "arrow/util/compression.h"
#include "arrowport/common/capped_memory_pool.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/prefetching_reader.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/http/body_decode_reader.h"
#include "arrowport/http/body_pipe.h"
#include "arrowport/http/data_sink_stream.h"
#include "arrowport/http/deadline_socket_stream.h"
#include "arrowport/http/first_batch_reader.h"
#include "arrowport/http/http_call.h"
#include "arrowport/http/http_errors.h"
#include "arrowport/http/http_server.h"
#include "arrowport/http/negotiation.h"
#include "arrowport/http/openapi.h"
#include "arrowport/http/owned_worker.h"
#include "arrowport/http/request_body.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/result_writer.h"
#include "arrowport/storage/database.h"

namespace arrowport::http {

using json = nlohmann::json;

namespace {

constexpr int64_t kPipeBytes = 8 << 20;           // request body buffered ahead of DuckDB
constexpr int64_t kResponseBufferBytes = 64 << 10;  // coalesces small writes into chunks
constexpr int64_t kSeedBodyLimit = int64_t{512} << 20;
// Decoded batches alive at once per request: the ingest pipeline's read-ahead (4) plus
// the batch being decoded and the one DuckDB is scanning.
constexpr int64_t kIngestBatchesInFlight = 6;
constexpr int64_t kDrainAfterRefusal = 16 << 20;  // body bytes still read after a 413

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void SendJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

// httplib drains an unread body after the response so that keep-alive can go on and the
// client, still sending, gets to read the answer. A body refused for its size may be
// endless (chunked), so only a little of it is drained, then the connection closes. Other
// refusals (503 busy, 415) drain the body whole: the client must see them.
void LimitDrain(int status) {
  if (status != 413) return;
  if (auto* connection = DeadlineSocketStream::Current()) {
    connection->LimitRemainingReads(kDrainAfterRefusal);
  }
}

void SendError(httplib::Response& res, const HttpError& error) {
  LimitDrain(error.status);
  SendJson(res, error.status, error.ToJson());
}

void SendStatus(httplib::Response& res, const arrow::Status& status) {
  if (HasErrorKind(status, ErrorKind::kServerBusy)) res.set_header("Retry-After", "1");
  SendError(res, ToHttpError(status));
}

}  // namespace

struct HttpGateway::Impl {
  Impl(HttpGatewayDeps d, HttpServerOptions options) : deps(d), server(options) {}

  HttpGatewayDeps deps;
  HttpServer server;
  int port = 0;

  void Log(const char* method, const std::string& path, const arrow::Status& st,
           std::chrono::steady_clock::time_point start, Logger::Fields fields = {}) {
    fields.insert(fields.begin(), {{"protocol", "http"}, {"method", method}, {"path", path}});
    fields.push_back({"seconds", std::to_string(SecondsSince(start))});
    if (st.ok()) {
      fields.push_back({"status", "ok"});
      deps.logger->Info("request", fields);
    } else {
      fields.push_back({"status", std::to_string(ToHttpError(st).status)});
      fields.push_back({"error", st.message()});
      deps.logger->Warn("request failed", fields);
    }
  }

  // Admits and watches a call that reads or writes the database (see HttpCall); queries
  // get limits.query_timeout_s.
  arrow::Result<std::shared_ptr<HttpCall>> BeginCall(bool query) {
    const auto* connection = DeadlineSocketStream::Current();
    return HttpCall::Begin(deps.limiter, deps.watchdog,
                           connection ? connection->socket() : -1,
                           std::chrono::seconds(query ? deps.query_timeout_s : 0));
  }

  // Streams a query result as the negotiated format, compressed if the client asked.
  void StreamResult(const httplib::Request& req, httplib::Response& res,
                    const query::QueryRequest& request) {
    const auto start = std::chrono::steady_clock::now();
    auto negotiated = Negotiate(req);
    if (!negotiated.ok()) {
      HttpError error = ToHttpError(negotiated.status());
      if (negotiated.status().IsNotImplemented()) error = {406, "not_acceptable", negotiated.status().message()};
      SendError(res, error);
      return;
    }
    auto call = BeginCall(/*query=*/true);
    if (!call.ok()) {
      Log(req.method.c_str(), req.path, call.status(), start);
      return SendStatus(res, call.status());
    }
    auto reader = deps.query->Execute(request, (*call)->context());
    if (reader.ok()) reader = ReadFirstBatchAhead(*reader);
    if (!reader.ok()) {
      Log(req.method.c_str(), req.path, reader.status(), start);
      SendStatus(res, reader.status());
      return;
    }
    const auto compression = ResponseCompression(req);
    if (compression == arrow::Compression::ZSTD) res.set_header("Content-Encoding", "zstd");
    if (compression == arrow::Compression::GZIP) res.set_header("Content-Encoding", "gzip");
    res.status = 200;
    auto batches = *reader;
    const auto format = negotiated->format;
    const std::string path = req.path;
    const std::string method = req.method;
    res.set_chunked_content_provider(
        negotiated->content_type,
        // The call (permit, watch) lives with the provider: until the body has been
        // written or abandoned.
        [this, batches, format, compression, path, method, start, call = *call](
            size_t, httplib::DataSink& sink) {
          auto st = [&]() -> arrow::Status {
            std::shared_ptr<arrow::io::OutputStream> out = std::make_shared<DataSinkStream>(&sink);
            ARROW_ASSIGN_OR_RAISE(out, arrow::io::BufferedOutputStream::Create(
                                           kResponseBufferBytes, arrow::default_memory_pool(), out));
            std::unique_ptr<arrow::util::Codec> codec;
            if (compression != arrow::Compression::UNCOMPRESSED) {
              // gzip at its default (maximum) level crawls on repetitive columnar data;
              // level 1 keeps it near wire speed. zstd uses the configured level.
              const int level = compression == arrow::Compression::GZIP
                                    ? 1
                                    : deps.compression_level;
              ARROW_ASSIGN_OR_RAISE(codec, arrow::util::Codec::Create(compression, level));
              ARROW_ASSIGN_OR_RAISE(out, arrow::io::CompressedOutputStream::Make(codec.get(), out));
            }
            ARROW_ASSIGN_OR_RAISE(auto rows, query::WriteResult(batches.get(), format, out));
            ARROW_RETURN_NOT_OK(out->Close());
            Log(method.c_str(), path, arrow::Status::OK(), start, {{"rows", std::to_string(rows)}});
            return arrow::Status::OK();
          }();
          if (!st.ok()) {
            // Headers are gone already: abort the chunked body so the client sees an error.
            Log(method.c_str(), path, st, start);
            return false;
          }
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

  // Bodies read whole (query, seed JSON) are capped lower than streamed ingest bodies.
  int64_t WholeBodyLimit() const { return std::min(deps.max_body_bytes, kSeedBodyLimit); }

  void HandleQuery(const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& content) {
    const auto start = std::chrono::steady_clock::now();
    const std::string type = MediaType(req.get_header_value("Content-Type"));
    query::QueryRequest request;
    const bool sql_text = type == "text/plain" || type == "application/sql" || type.empty();
    if (type != "application/json" && !sql_text) {
      return SendError(res, {415, "unsupported_media_type",
                             "POST /query takes application/json {\"sql\": ..., \"params\": "
                             "[...]} or text/plain SQL, not '" + type + "'"});
    }
    auto body = ReadBodyLimited(content, WholeBodyLimit(), "http.max_body_bytes");
    if (!body.ok()) {
      Log("POST", req.path, body.status(), start);
      return SendStatus(res, body.status());
    }
    if (type == "application/json") {
      auto doc = json::parse(*body, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded() || !doc.is_object()) {
        return SendError(res, {400, "invalid_json", "request body is not a JSON object"});
      }
      auto parsed = query::ParseTicket(*body);
      if (!parsed.ok()) return SendStatus(res, parsed.status());
      request = *parsed;
    } else {
      auto parsed = query::ParseTicket(*body);
      if (!parsed.ok() || !parsed->table.empty()) {
        return SendStatus(res, parsed.ok() ? arrow::Status::Invalid("expected SQL text")
                                           : parsed.status());
      }
      request = *parsed;
    }
    StreamResult(req, res, request);
  }

  void HandleIngest(const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader& content) {
    const auto start = std::chrono::steady_clock::now();
    const std::string stream = req.matches[1];
    ingest::IngestRequest request;
    request.stream = stream;
    request.protocol = "http";
    auto st = [&]() -> arrow::Status {
      ARROW_RETURN_NOT_OK(ValidateName("stream", stream));
      if (req.has_param("table")) request.table = req.get_param_value("table");
      if (!request.table.empty()) ARROW_RETURN_NOT_OK(ValidateName("table", request.table));
      if (req.has_param("mode")) {
        ARROW_ASSIGN_OR_RAISE(request.mode, ingest::ParseWriteMode(req.get_param_value("mode")));
      }
      if (req.has_param("request_id")) request.request_id = req.get_param_value("request_id");
      if (req.has_header("Idempotency-Key")) {
        request.request_id = req.get_header_value("Idempotency-Key");
      }
      if (!request.request_id.empty()) {
        ARROW_RETURN_NOT_OK(ingest::ValidateRequestId(request.request_id));
      }
      if (req.has_param("commit")) {
        ARROW_ASSIGN_OR_RAISE(request.commit,
                              config::ParseCommitMode(req.get_param_value("commit")));
      }
      return arrow::Status::OK();
    }();
    if (!st.ok()) {
      Log("POST", req.path, st, start, {{"stream", stream}});
      return SendStatus(res, st);
    }
    const std::string type = MediaType(req.get_header_value("Content-Type"));
    if (!type.empty() && type != kArrowStream && type != "application/octet-stream") {
      return SendError(res, {415, "unsupported_media_type",
                             "POST /ingest takes an Arrow IPC stream (Content-Type: " +
                                 std::string(kArrowStream) + "), not '" + type + "'"});
    }
    auto call = BeginCall(/*query=*/false);
    if (!call.ok()) {
      Log("POST", req.path, call.status(), start, {{"stream", stream}});
      return SendStatus(res, call.status());
    }
    // Decoding allocates what the sender declares; the request's pool bounds it to a few
    // batches' worth (that many are in flight between the network and DuckDB).
    auto pool = std::make_shared<CappedMemoryPool>(
        arrow::default_memory_pool(), kIngestBatchesInFlight * deps.max_batch_bytes,
        "limits.max_batch_bytes (" + std::to_string(deps.max_batch_bytes) + ")");
    auto pipe = std::make_shared<BodyPipe>(kPipeBytes, pool.get());
    arrow::Result<ingest::IngestResult> result = arrow::Status::UnknownError("not run");
    json committed = json::array();  // per_batch: batches committed before any failure
    std::shared_ptr<BodyDecodeReader> decoder;  // set by the worker before it reads
    OwnedWorker worker(
        [&] {
          auto options = arrow::ipc::IpcReadOptions::Defaults();
          options.memory_pool = pool.get();
          auto reader = arrow::ipc::RecordBatchStreamReader::Open(pipe, options);
          if (!reader.ok()) {
            result = pool->refused()
                         ? reader.status()
                         : arrow::Status::Invalid("request body is not an Arrow IPC stream: ",
                                                  reader.status().message());
          } else {
            auto decoded = std::make_shared<BodyDecodeReader>(*reader, pipe, pool,
                                                              deps.max_batch_bytes);
            decoder = decoded;
            // The pipeline validates and reads ahead of DuckDB on a thread of its own.
            result = deps.ingest->Ingest(
                request, decoded,
                [&](int64_t index, int64_t rows) {
                  committed.push_back({{"batch", index}, {"rows", rows}});
                  return arrow::Status::OK();
                },
                (*call)->context());
          }
          (void)pipe->Close();  // stops the body pump if the ingest ended early
        },
        [&] { pipe->Abort(arrow::Status::IOError("the request handler ended early")); });
    int64_t received = 0;
    bool too_large = false;
    const bool complete = content([&](const char* data, size_t length) {
      received += static_cast<int64_t>(length);
      if (received > deps.max_body_bytes) {
        too_large = true;
        return false;
      }
      return pipe->Push(data, length);
    });
    const auto body_too_large = TooLarge("request body exceeds http.max_body_bytes (",
                                         deps.max_body_bytes, " bytes, decompressed)");
    if (too_large) {
      pipe->Abort(body_too_large);
    } else if (!complete && !pipe->closed()) {
      pipe->Abort(arrow::Status::IOError("client disconnected before the body was complete"));
    } else {
      pipe->Finish();
    }
    worker.Join();
    if (!worker.status().ok()) result = worker.status();
    if (!result.ok() && decoder && !decoder->limit_error().ok()) result = decoder->limit_error();
    if (too_large) {
      Log("POST", req.path, body_too_large, start, {{"stream", stream}});
      return SendStatus(res, body_too_large);
    }
    if (!result.ok()) {
      Log("POST", req.path, result.status(), start, {{"stream", stream}});
      const HttpError error = ToHttpError(result.status());
      LimitDrain(error.status);
      json body = json::parse(error.ToJson());
      body["committed_batches"] = committed;
      return SendJson(res, error.status, body.dump());
    }
    const json body = {{"stream", result->stream},   {"table", result->table},
                       {"rows", result->rows},       {"batches", result->batches},
                       {"bytes", received},          {"seconds", result->seconds},
                       {"created", result->created}, {"committed", true},
                       {"duplicate", result->duplicate}};
    Log("POST", req.path, arrow::Status::OK(), start,
        {{"stream", result->stream}, {"table", result->table},
         {"rows", std::to_string(result->rows)}, {"bytes", std::to_string(received)}});
    SendJson(res, 200, body.dump());
  }

  // The seed Arrowport's JSON endpoint: base64 Arrow IPC schema + data in JSON.
  void HandleSeedStream(const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader& content) {
    const auto start = std::chrono::steady_clock::now();
    const std::string stream = req.matches[1];
    auto result = [&]() -> arrow::Result<ingest::IngestResult> {
      ARROW_RETURN_NOT_OK(ValidateName("stream", stream));
      ARROW_ASSIGN_OR_RAISE(auto call, BeginCall(/*query=*/false));
      ARROW_ASSIGN_OR_RAISE(auto body,
                            ReadBodyLimited(content, WholeBodyLimit(), "http.max_body_bytes"));
      auto doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded() || !doc.is_object()) {
        return arrow::Status::Invalid("request body is not a JSON object");
      }
      ingest::IngestRequest request;
      request.stream = stream;
      request.protocol = "http-json";
      if (doc.contains("config") && doc["config"].is_object()) {
        const auto& cfg = doc["config"];
        if (cfg.contains("target_table") && cfg["target_table"].is_string()) {
          request.table = cfg["target_table"].get<std::string>();
          ARROW_RETURN_NOT_OK(ValidateName("table", request.table));
        }
      }
      if (!doc.contains("batch") || !doc["batch"].is_object() ||
          !doc["batch"].contains("data") || !doc["batch"]["data"].is_string()) {
        return arrow::Status::Invalid("body needs batch.data (base64 Arrow IPC)");
      }
      const auto& batch = doc["batch"];
      auto data = arrow::util::base64_decode(batch["data"].get<std::string>());
      if (!data.ok()) return arrow::Status::Invalid("batch.data is not valid base64");
      std::string schema_bytes;
      if (batch.contains("arrow_schema") && batch["arrow_schema"].is_string()) {
        auto schema = arrow::util::base64_decode(batch["arrow_schema"].get<std::string>());
        if (!schema.ok()) return arrow::Status::Invalid("batch.arrow_schema is not valid base64");
        schema_bytes = std::move(*schema);
      }
      // batch.data is either a whole IPC stream or record batch messages that need the
      // schema message in front.
      auto pool = std::make_shared<CappedMemoryPool>(
          arrow::default_memory_pool(), 2 * deps.max_batch_bytes,
          "limits.max_batch_bytes (" + std::to_string(deps.max_batch_bytes) + ")");
      auto open = [&pool](std::string bytes) {
        std::shared_ptr<arrow::Buffer> buffer = arrow::Buffer::FromString(std::move(bytes));
        auto options = arrow::ipc::IpcReadOptions::Defaults();
        options.memory_pool = pool.get();
        return arrow::ipc::RecordBatchStreamReader::Open(
            std::make_shared<arrow::io::BufferReader>(buffer), options);
      };
      auto reader = open(*data);
      if (!reader.ok() && !schema_bytes.empty()) reader = open(schema_bytes + *data);
      if (!reader.ok()) {
        return arrow::Status::Invalid("batch.data is not Arrow IPC: ", reader.status().message());
      }
      auto decoded =
          std::make_shared<BodyDecodeReader>(*reader, nullptr, pool, deps.max_batch_bytes);
      auto ingested = deps.ingest->Ingest(request, decoded, {}, call->context());
      if (!ingested.ok() && !decoded->limit_error().ok()) return decoded->limit_error();
      return ingested;
    }();
    if (!result.ok()) {
      Log("POST", req.path, result.status(), start, {{"stream", stream}});
      return SendStatus(res, result.status());
    }
    Log("POST", req.path, arrow::Status::OK(), start,
        {{"stream", stream}, {"rows", std::to_string(result->rows)}});
    SendJson(res, 200,
             json{{"status", "success"},
                  {"stream", stream},
                  {"rows_processed", result->rows},
                  {"message", "Processed " + std::to_string(result->rows) + " rows into " +
                                  result->table}}
                 .dump());
  }

  void Routes() {
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      SendJson(res, 200, R"({"status": "ok"})");
    });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      query::QueryRequest probe;
      probe.sql = "SELECT 1";
      auto call = BeginCall(/*query=*/true);
      if (!call.ok()) return SendStatus(res, call.status());
      auto reader = deps.query->Execute(probe, (*call)->context());
      auto table = reader.ok() ? (*reader)->ToTable() : reader.status();
      if (!table.ok()) {
        return SendError(res, {503, "unavailable", table.status().message()});
      }
      SendJson(res, 200, R"({"status": "ready"})");
    });
    server.Get("/openapi.json", [](const httplib::Request&, httplib::Response& res) {
      SendJson(res, 200, OpenApiDocument());
    });
    server.Get("/streams", [this](const httplib::Request&, httplib::Response& res) {
      SendJson(res, 200, ingest::StreamsJson(*deps.router));
    });
    server.Get("/tables", [this](const httplib::Request&, httplib::Response& res) {
      auto call = BeginCall(/*query=*/true);
      if (!call.ok()) return SendStatus(res, call.status());
      auto tables = deps.query->ListTables();
      if (!tables.ok()) return SendStatus(res, tables.status());
      json out = json::array();
      for (const auto& t : *tables) {
        query::QueryRequest request;
        request.table = t.name;
        json columns = json::array();
        auto schema = deps.query->Describe(request);
        if (schema.ok()) {
          for (const auto& f : (*schema)->fields()) {
            columns.push_back({{"name", f->name()}, {"type", f->type()->ToString()}});
          }
        }
        out.push_back({{"name", t.name}, {"kind", t.kind}, {"rows", t.estimated_rows},
                       {"columns", columns}});
      }
      SendJson(res, 200, json{{"tables", out}}.dump());
    });
    server.Get(R"(/tables/([^/]+)/schema)", [this](const httplib::Request& req,
                                                   httplib::Response& res) {
      query::QueryRequest request;
      request.table = req.matches[1];
      auto valid = ValidateName("table", request.table);
      if (!valid.ok()) return SendStatus(res, valid);
      auto call = BeginCall(/*query=*/true);
      if (!call.ok()) return SendStatus(res, call.status());
      auto schema = deps.query->Describe(request);
      if (!schema.ok()) return SendStatus(res, schema.status());
      json columns = json::array();
      for (const auto& f : (*schema)->fields()) {
        columns.push_back({{"name", f->name()}, {"type", f->type()->ToString()},
                           {"nullable", f->nullable()}});
      }
      SendJson(res, 200, json{{"name", request.table}, {"columns", columns}}.dump());
    });
    auto read_table = [this](const httplib::Request& req, httplib::Response& res) {
      auto request = TableRequest(req, req.matches[1]);
      if (!request.ok()) return SendStatus(res, request.status());
      StreamResult(req, res, *request);
    };
    server.Get(R"(/tables/([^/]+))", read_table);
    server.Get(R"(/api/v1/arrow/bulk-read/([^/]+))", read_table);
    server.Post("/query", [this](const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& content) {
      HandleQuery(req, res, content);
    });
    server.Post(R"(/ingest/([^/]+))", [this](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& content) {
      HandleIngest(req, res, content);
    });
    server.Post(R"(/stream/([^/]+))", [this](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& content) {
      HandleSeedStream(req, res, content);
    });
    // A body declared larger than its route's limit is refused before it is read: ingest
    // streams up to http.max_body_bytes; bodies read whole (query, seed JSON) are capped
    // lower. Every body is also counted as it arrives, after decompression (HandleIngest,
    // ReadBodyLimited): a declared length says nothing about what a compressed body
    // inflates to, and chunked bodies declare none.
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // cpp-httplib owns the Request (a non-const local) but hands out const references;
      // this is the one place a header is rewritten (see kAcceptedEncodings).
      auto& headers = const_cast<httplib::Request&>(req).headers;
      headers.erase(kAcceptedEncodings);
      std::string accepted;
      for (auto it = headers.find("Accept-Encoding"); it != headers.end();
           it = headers.find("Accept-Encoding")) {
        accepted += (accepted.empty() ? "" : ", ") + it->second;
        headers.erase(it);
      }
      if (!accepted.empty()) headers.emplace(kAcceptedEncodings, std::move(accepted));
      if (req.method != "POST" || !req.has_header("Content-Length")) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      const bool streamed = req.path.rfind("/ingest/", 0) == 0;
      const int64_t limit = streamed ? deps.max_body_bytes : WholeBodyLimit();
      const auto declared =
          std::strtoll(req.get_header_value("Content-Length").c_str(), nullptr, 10);
      if (declared <= limit) return httplib::Server::HandlerResponse::Unhandled;
      SendError(res, {413, "payload_too_large",
                      "request body of " + std::to_string(declared) + " bytes exceeds " +
                          std::to_string(limit) + " bytes (http.max_body_bytes)"});
      return httplib::Server::HandlerResponse::Handled;
    });
    // Errors raised by the HTTP layer itself (unknown route, limits) get JSON bodies too.
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      HttpError error{res.status, "error", httplib::status_message(res.status)};
      if (res.status == 404) error = {404, "not_found", "no route for " + req.method + " " + req.path};
      if (res.status == 413) error = {413, "payload_too_large", "request body is too large"};
      if (res.status == 415) error = {415, "unsupported_media_type", "unsupported Content-Encoding"};
      SendError(res, error);
    });
    server.set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                        std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      deps.logger->Error("handler exception", {{"path", req.path}, {"error", what}});
      SendError(res, {500, "internal", what});
    });
  }
};

HttpGateway::HttpGateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpGateway::~HttpGateway() { Stop(std::chrono::system_clock::now()); }
int HttpGateway::port() const { return impl_->port; }

void HttpGateway::Stop(std::chrono::system_clock::time_point deadline) {
  impl_->server.Stop(deadline);
}

namespace {

HttpServerOptions ServerOptions(const HttpGatewayDeps& deps) {
  HttpServerOptions options;
  options.max_connections = static_cast<size_t>(std::max(deps.max_connections, 1));
  options.timeouts.header = std::chrono::seconds(deps.header_timeout_s);
  options.timeouts.read = std::chrono::seconds(deps.read_timeout_s);
  options.timeouts.write = std::chrono::seconds(60);
  options.timeouts.keep_alive = std::chrono::seconds(5);
  options.keep_alive_max_count = 1000;
  return options;
}

}  // namespace

arrow::Result<std::unique_ptr<HttpGateway>> HttpGateway::Start(HttpGatewayDeps deps,
                                                               const std::string& host, int port) {
  auto impl = std::make_unique<Impl>(deps, ServerOptions(deps));
  auto& server = impl->server;
  // Limits are enforced by the handlers, counted on decompressed bytes: cpp-httplib's
  // own limit would end a body with a bare 413 the handler cannot explain. (It also
  // bounds the drain of an unread body; HttpServer limits that drain after a refusal.)
  server.set_payload_max_length(std::numeric_limits<size_t>::max());
  // SO_REUSEADDR only: a port already in use must fail here, not be shared.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof(yes));
  });
  impl->Routes();
  ARROW_ASSIGN_OR_RAISE(impl->port, server.BindAndServe(host, port));
  return std::unique_ptr<HttpGateway>(new HttpGateway(std::move(impl)));
}

}  // namespace arrowport::http
