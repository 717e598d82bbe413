// The HTTP side of DataClient: POST /ingest/{stream} with a chunked Arrow IPC body, and
// POST /query answered as an Arrow IPC stream.
#include <httplib.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include "arrow/buffer.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/reader.h"
#include "arrow/ipc/writer.h"
#include "arrow/record_batch.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/server_probe.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/http/body_pipe.h"
#include "arrowport/http/data_sink_stream.h"

namespace arrowport::cli {

namespace {

using json = nlohmann::json;

arrow::Status ErrorFrom(int status, const std::string& body) {
  auto doc = json::parse(body, nullptr, false);
  std::string message = body;
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    message = doc["error"].value("message", message);
  }
  if (status == 401) return Unauthenticated(message);
  if (status == 404) return arrow::Status::KeyError(message);
  if (status >= 400 && status < 500) return arrow::Status::Invalid(message);
  return arrow::Status::IOError("HTTP ", status, ": ", message);
}

arrow::Status ErrorFrom(const httplib::Result& result) {
  if (!result) {
    return arrow::Status::IOError("HTTP request failed: ", httplib::to_string(result.error()));
  }
  return ErrorFrom(result->status, result->body);
}

// A response being downloaded on its own thread into a bounded pipe.
struct Download {
  std::shared_ptr<http::BodyPipe> pipe = std::make_shared<http::BodyPipe>(8 << 20);
  std::promise<int> status;
  std::string error_body;
  std::string error;
  httplib::Error error_code = httplib::Error::Success;
  std::thread thread;
  ~Download() {
    (void)pipe->Close();  // a consumer that stops early ends the download
    if (thread.joinable()) thread.join();
  }
};

// Keeps the download alive as long as its batches are read.
class DownloadReader : public arrow::RecordBatchReader {
 public:
  DownloadReader(std::shared_ptr<Download> download,
                 std::shared_ptr<arrow::RecordBatchReader> inner)
      : download_(std::move(download)), inner_(std::move(inner)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    return inner_->ReadNext(out);
  }
  ~DownloadReader() override {
    inner_.reset();
    download_.reset();
  }

 private:
  std::shared_ptr<Download> download_;
  std::shared_ptr<arrow::RecordBatchReader> inner_;
};

// The CAs `client` trusts: --tls-ca's or the host's, never cpp-httplib's default
// (OpenSSL's compiled-in paths, Debian's in a portable build).
void TrustOnly(httplib::Client& client, const CaStore& trusted) {
  if (!trusted.file.empty() || !trusted.dir.empty()) {
    client.set_ca_cert_path(trusted.file, trusted.dir);
  }
}

class HttpConnection : public DataClient {
 public:
  HttpConnection(const std::string& url, const std::string& tls_ca, const CaStore& trusted)
      : url_(url), tls_ca_(tls_ca), client_(url) {
    TrustOnly(client_, trusted);
    client_.set_read_timeout(std::chrono::minutes(10));
    client_.set_write_timeout(std::chrono::minutes(10));
    // One request per command: a kept-alive socket could be closed by the server while
    // idle, and a streamed request body cannot be replayed on a fresh connection.
    client_.set_keep_alive(false);
    client_.set_tcp_nodelay(true);
    // A server with authentication: Basic on each request (the server caches the check).
    if (const auto credentials = CredentialsFromEnvironment()) {
      client_.set_basic_auth(credentials->user, credentials->password);
    }
  }

  arrow::Result<std::string> Put(const std::string& command,
                                 const std::shared_ptr<arrow::RecordBatchReader>& source) override {
    auto doc = json::parse(command, nullptr, false);
    if (!doc.is_object() || !doc.contains("stream")) {
      return arrow::Status::Invalid("ingest command needs a stream");
    }
    httplib::Params params;
    for (const char* key : {"table", "mode", "commit"}) {
      if (doc.contains(key) && doc[key].is_string()) params.emplace(key, doc[key].get<std::string>());
    }
    const std::string path = httplib::append_query_params(
        "/ingest/" + doc["stream"].get<std::string>(), params);
    arrow::Status write_status;
    ScopedSigpipeBlock no_sigpipe;
    auto result = client_.Post(
        path, httplib::Headers{},
        [&](size_t, httplib::DataSink& sink) {
          write_status = [&]() -> arrow::Status {
            auto out = std::make_shared<http::DataSinkStream>(&sink);
            ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(out, source->schema()));
            for (;;) {
              ARROW_ASSIGN_OR_RAISE(auto batch, source->Next());
              if (!batch) break;
              ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
            }
            return writer->Close();
          }();
          if (!write_status.ok()) {
            // cpp-httplib reads for an early answer after a failed body, and the server
            // answers a cut body only when its idle timeout ends (30 s): shut the
            // socket now so that the failure is reported at once.
            client_.stop();
            return false;
          }
          sink.done();
          return true;
        },
        "application/vnd.apache.arrow.stream");
    if (!write_status.ok()) {
      // The body was cut before its end: the server commits nothing of a request whose
      // body did not arrive whole (a per_batch one keeps what it had committed).
      return write_status.WithMessage(
          write_status.message(), "; the request was cut short: ",
          params.count("commit") && params.find("commit")->second == "per_batch"
              ? "the batches the server committed before it stay"
              : "nothing of it was committed");
    }
    if (!result) return Explain(result.error(), ErrorFrom(result));
    if (result->status != 200) return ErrorFrom(result);
    return result->body;
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Get(const std::string& ticket) override {
    // The response is decoded while it downloads: a thread feeds a bounded pipe that the
    // IPC reader pulls from, so memory stays bounded whatever the result size.
    auto download = std::make_shared<Download>();
    std::future<int> status = download->status.get_future();
    // The thread borrows the Download: its owner's destructor joins the thread first.
    Download* raw = download.get();
    download->thread = std::thread([this, raw, ticket] {
      ScopedSigpipeBlock no_sigpipe;  // this thread does network I/O only
      Download* download = raw;
      httplib::Request req;
      req.method = "POST";
      req.path = "/query?format=arrow";
      req.body = ticket;
      req.set_header("Content-Type", "application/json");
      // Uncompressed: Arrow over loopback/LAN is faster than any codec.
      req.set_header("Accept-Encoding", "identity");
      int code = 0;
      req.response_handler = [&](const httplib::Response& res) {
        code = res.status;
        download->status.set_value(code);
        return true;
      };
      req.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
        if (code != 200) {
          download->error_body.append(data, length);
          return true;
        }
        return download->pipe->Push(data, length);
      };
      httplib::Response res;
      httplib::Error error = httplib::Error::Success;
      const bool sent = client_.send(req, res, error);
      if (code == 0) download->status.set_value(-1);
      if (!sent) {
        download->pipe->Abort(arrow::Status::IOError("HTTP request failed: ", httplib::to_string(error)));
      } else {
        download->pipe->Finish();
      }
      download->error = httplib::to_string(error);
      download->error_code = error;
    });
    const int code = status.get();
    if (code != 200) {
      download->thread.join();
      if (code < 0) {
        return Explain(download->error_code,
                       arrow::Status::IOError("HTTP request failed: ", download->error));
      }
      return ErrorFrom(code, download->error_body);
    }
    auto reader = arrow::ipc::RecordBatchStreamReader::Open(download->pipe);
    if (!reader.ok()) return reader.status();
    return std::make_shared<DownloadReader>(download, *reader);
  }

  arrow::Result<std::string> Status() override { return GetJson("/status"); }
  arrow::Result<std::string> Ready() override { return GetJson("/readyz"); }

 private:
  arrow::Result<std::string> GetJson(const char* path) {
    ScopedSigpipeBlock no_sigpipe;
    auto result = client_.Get(path);
    if (!result) return Explain(result.error(), ErrorFrom(result));
    if (result->status != 200) return ErrorFrom(result);
    return result->body;
  }

  // A failed TLS handshake to an https:// URL: the server may speak plain HTTP there (a
  // plain client on Arrowport's HTTPS port gets an answer saying so instead), or its
  // certificate may not be trusted here.
  arrow::Status Explain(httplib::Error error, const arrow::Status& failed) const {
    if (error != httplib::Error::SSLConnection &&
        error != httplib::Error::SSLServerVerification &&
        error != httplib::Error::SSLServerHostnameVerification) {
      return failed;
    }
    return ExplainTls(url_, tls_ca_, failed);
  }

  const std::string url_;
  const std::string tls_ca_;
  httplib::Client client_;
};

// A port that accepts connections but never answers HTTP (another program, a hung
// server) would hold the command for the 10 minutes a response may take: like the Flight
// client's first call, GET /healthz must be answered (any status) within the connect
// wait, and never less than 5 s.
arrow::Status AwaitFirstHttpAnswer(const std::string& url, const CaStore& trusted,
                                   double connect_wait_s) {
  constexpr double kMinimumAnswerWait = 5;
  const double wait_s = std::max(connect_wait_s, kMinimumAnswerWait);
  httplib::Client probe(url);
  TrustOnly(probe, trusted);
  const auto wait = std::chrono::milliseconds(static_cast<int64_t>(wait_s * 1000));
  probe.set_connection_timeout(wait);
  probe.set_read_timeout(wait);
  probe.set_write_timeout(wait);
  probe.set_keep_alive(false);
  const auto result = probe.Get("/healthz");
  if (result || result.error() != httplib::Error::Read) return arrow::Status::OK();
  return arrow::Status::IOError(
      "the server at ", url, " accepted the connection but did not answer within ",
      static_cast<int64_t>(wait_s), " s: is this an Arrowport server's HTTP port (--server "
      "or ARROWPORT_SERVER)? A busy one may need a longer --connect-wait "
      "(ARROWPORT_CONNECT_WAIT)");
}

}  // namespace

arrow::Result<std::unique_ptr<DataClient>> ConnectDataClient(const std::string& url,
                                                             const std::string& tls_ca,
                                                             double connect_wait_s) {
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    if (connect_wait_s >= 0) ARROW_RETURN_NOT_OK(WaitForServer(url, connect_wait_s));
    if (!tls_ca.empty() && ::access(tls_ca.c_str(), R_OK) != 0) {
      return arrow::Status::IOError("--tls-ca '", tls_ca, "': cannot read the file");
    }
    CaStore trusted{tls_ca, "", false};
    if (tls_ca.empty() && url.rfind("https://", 0) == 0) {
      ARROW_ASSIGN_OR_RAISE(trusted, HostCasFor(url));
    }
    if (connect_wait_s >= 0) {
      ARROW_RETURN_NOT_OK(AwaitFirstHttpAnswer(url, trusted, connect_wait_s));
    }
    return std::make_unique<HttpConnection>(url, tls_ca, trusted);
  }
  ARROW_ASSIGN_OR_RAISE(auto flight, FlightConnection::Connect(url, tls_ca, connect_wait_s));
  return std::unique_ptr<DataClient>(std::move(flight));
}

}  // namespace arrowport::cli
