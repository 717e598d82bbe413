#include "arrowport/cli/client.h"
#include "arrowport/cli/query_progress.h"

#include <arrow/flight/api.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "arrow/record_batch.h"
#include "arrowport/common/aligned_batch.h"
#include "arrowport/common/ca_certificates.h"
#include "arrowport/cli/server_probe.h"

namespace arrowport::cli {

namespace fl = arrow::flight;

namespace {

// A received result's batches with their buffers aligned (AlignBuffers): Arrow decodes
// them where they sit in the gRPC message, at any address, and the CLI's writers read
// values through typed pointers (UBSan: a misaligned string offset in a VARIANT's blob).
class AligningReader : public arrow::RecordBatchReader {
 public:
  explicit AligningReader(std::shared_ptr<arrow::RecordBatchReader> received)
      : received_(std::move(received)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return received_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    ARROW_RETURN_NOT_OK(received_->ReadNext(out));
    if (*out == nullptr) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(*out, AlignBuffers(std::move(*out)));
    return arrow::Status::OK();
  }
  arrow::Status Close() override { return received_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> received_;
};
// What ends a sealed upload (DoPut descriptor "sealed": true) after its last batch: the
// server commits nothing of one that ends without it (flight/call_scope.h).
constexpr const char* kUploadEndMarker = "arrowport:end";
}  // namespace

std::optional<ClientCredentials> CredentialsFromEnvironment() {
  const char* user = std::getenv("ARROWPORT_USER");
  if (user == nullptr || *user == '\0') return std::nullopt;
  const char* password = std::getenv("ARROWPORT_PASSWORD");
  return ClientCredentials{user, password ? password : ""};
}

struct FlightConnection::Impl {
  std::string url;
  std::string tls_ca;  // the --tls-ca file ("" none)
  std::shared_ptr<fl::FlightClient> client;
  std::vector<std::unique_ptr<fl::FlightStreamReader>> open_streams;
  fl::FlightCallOptions options;  // the bearer token, when logged in

  /// A call that got no answer (UNAVAILABLE: a failed handshake, a closed socket) is
  /// explained when TLS is why (ExplainTls).
  arrow::Status Explain(const arrow::Status& status) const {
    if (status.ok()) return status;
    const auto detail = fl::FlightStatusDetail::UnwrapStatus(status);
    if (!detail || detail->code() != fl::FlightStatusCode::Unavailable) return status;
    return ExplainTls(url, tls_ca, status);
  }
  /// A port that accepts connections but never answers gRPC (another program, a hung
  /// server) would hold the command forever: a first call (ListActions, which any Flight
  /// server answers, if only to refuse it) must be answered within the connect wait, and
  /// never less than kMinimumAnswerWait (a busy server's queue).
  arrow::Status AwaitFirstAnswer(double connect_wait_s) const {
    constexpr double kMinimumAnswerWait = 5;
    fl::FlightCallOptions probe = options;
    const double wait_s = std::max(connect_wait_s, kMinimumAnswerWait);
    probe.timeout = fl::TimeoutDuration{wait_s};
    auto listed = client->ListActions(probe);
    if (listed.ok()) return arrow::Status::OK();
    const auto detail = fl::FlightStatusDetail::UnwrapStatus(listed.status());
    if (detail && detail->code() == fl::FlightStatusCode::TimedOut) {
      return arrow::Status::IOError(
          "the server at ", url, " accepted the connection but did not answer within ",
          static_cast<int64_t>(wait_s), " s: is this an Arrowport server's Flight port (--server or "
          "ARROWPORT_SERVER)? A busy one may need a longer --connect-wait "
          "(ARROWPORT_CONNECT_WAIT)");
    }
    if (detail && detail->code() == fl::FlightStatusCode::Unavailable) {
      return Explain(listed.status());
    }
    return arrow::Status::OK();  // any other answer (say, sign-in required) is an answer
  }
  template <typename T>
  arrow::Result<T> Explain(arrow::Result<T> result) const {
    if (result.ok()) return result;
    return Explain(result.status());
  }
};

FlightConnection::FlightConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FlightConnection::~FlightConnection() = default;

std::shared_ptr<fl::FlightClient> FlightConnection::flight_client() const {
  return impl_->client;
}

const fl::FlightCallOptions& FlightConnection::call_options() const { return impl_->options; }

arrow::Result<std::unique_ptr<FlightConnection>> FlightConnection::Connect(
    const std::string& url, const std::string& tls_ca, double connect_wait_s) {
  if (connect_wait_s >= 0) ARROW_RETURN_NOT_OK(WaitForServer(url, connect_wait_s));
  auto location = fl::Location::Parse(url);
  if (!location.ok()) {
    return arrow::Status::Invalid("invalid server URL '", url,
                                  "' (expected grpc://host:port): ", location.status().message());
  }
  auto impl = std::make_unique<Impl>();
  impl->url = url;
  impl->tls_ca = tls_ca;
  fl::FlightClientOptions options = fl::FlightClientOptions::Defaults();
  if (!tls_ca.empty()) {
    std::ifstream in(tls_ca, std::ios::binary);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().empty()) {
      return arrow::Status::IOError("--tls-ca '", tls_ca, "': cannot read the file");
    }
    options.tls_root_certs = pem.str();
  } else if (location->scheme() == "grpc+tls") {
    // The host's CA store, not gRPC's compiled-in default (Debian's path, which a
    // portable build carries to hosts that keep their store elsewhere).
    ARROW_ASSIGN_OR_RAISE(options.tls_root_certs, HostCasFor(url).Map(ReadCaPem));
  }
  ARROW_ASSIGN_OR_RAISE(impl->client, fl::FlightClient::Connect(*location, options));
  if (connect_wait_s >= 0) ARROW_RETURN_NOT_OK(impl->AwaitFirstAnswer(connect_wait_s));
  std::unique_ptr<FlightConnection> connection(new FlightConnection(std::move(impl)));
  ARROW_RETURN_NOT_OK(connection->SignIn());
  return connection;
}

arrow::Status FlightConnection::SignIn() {
  // A server with authentication: Basic credentials exchanged for a bearer token.
  const auto credentials = CredentialsFromEnvironment();
  if (!credentials) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto header, impl_->Explain(impl_->client->AuthenticateBasicToken(
                                         {}, credentials->user, credentials->password)));
  impl_->options.headers.clear();
  // A server without authentication gives no token (an empty header aborts gRPC).
  if (!header.first.empty()) impl_->options.headers.push_back(std::move(header));
  return arrow::Status::OK();
}

arrow::Result<std::string> FlightConnection::Put(
    const std::string& command, const std::shared_ptr<arrow::RecordBatchReader>& source) {
  return impl_->Explain(PutBatches(command, source));
}

arrow::Result<std::string> FlightConnection::PutBatches(
    const std::string& command, const std::shared_ptr<arrow::RecordBatchReader>& source) {
  const auto doc = nlohmann::json::parse(command, nullptr, false);
  const auto field = [&doc](const char* key) {
    return doc.is_object() && doc.contains(key) ? doc[key] : nlohmann::json();
  };
  const bool sealed = field("sealed") == true;
  const bool per_batch = field("commit") == "per_batch";
  auto descriptor = fl::FlightDescriptor::Command(command);
  ARROW_ASSIGN_OR_RAISE(
      auto put, impl_->client->DoPut(impl_->options, descriptor, source->schema()));
  // Acknowledgements are read concurrently so a per_batch server never blocks on a full
  // gRPC window while this side is still writing. This thread reads to the end of the
  // call: the summary is the server's last message, after the half-close below.
  std::string last_metadata;
  arrow::Status read_status;
  std::thread acks([&] {
    for (;;) {
      std::shared_ptr<arrow::Buffer> metadata;
      read_status = put.reader->ReadMetadata(&metadata);
      if (!read_status.ok() || !metadata) break;
      last_metadata = metadata->ToString();
    }
  });
  arrow::Status write_status;
  arrow::Status source_status;
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> batch;
    source_status = source->ReadNext(&batch);
    if (!source_status.ok() || !batch) break;
    write_status = put.writer->WriteRecordBatch(*batch);
    if (!write_status.ok()) break;  // the server's reason arrives with Close()
  }
  // Only a source read to its end is sealed: one that failed midway ends without the
  // marker, and the server commits nothing of it (a half-close alone looks finished).
  if (sealed && source_status.ok() && write_status.ok()) {
    write_status = put.writer->WriteMetadata(arrow::Buffer::FromString(kUploadEndMarker));
  }
  // Half-close, then wait for the server's last message before Close(): Close() drains
  // the reply stream itself, so called beside the reading thread it swallowed the
  // summary (the CLI printed "0 rows" for rows the server had committed) or failed on
  // the thread's pending read. The server ends the call once it has read the
  // half-close (or failed), so the thread ends too.
  auto done = put.writer->DoneWriting();
  acks.join();
  auto close = put.writer->Close();
  if (!source_status.ok()) {
    // Say what the server kept of it: a retry of the whole source must not store rows
    // twice. (The server's own refusal of the unsealed upload is expected here.)
    std::string kept = "nothing of it was committed";
    if (per_batch) {
      kept = "the batches acknowledged before it stay committed (last acknowledgement: " +
             (last_metadata.empty() ? std::string("none") : last_metadata) + ")";
    } else if (!sealed) {
      kept = "the server committed the batches sent before it: " +
             (last_metadata.empty() ? std::string("(no summary)") : last_metadata);
    }
    return source_status.WithMessage(source_status.message(), "; ", kept);
  }
  if (!close.ok()) return close;
  ARROW_RETURN_NOT_OK(write_status);
  ARROW_RETURN_NOT_OK(done);
  ARROW_RETURN_NOT_OK(read_status);
  return last_metadata;
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> FlightConnection::Get(
    const std::string& ticket) {
  return Get(ticket, "");
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> FlightConnection::Get(
    const std::string& ticket, const std::string& progress_key) {
  fl::FlightCallOptions options = impl_->options;
  if (!progress_key.empty()) {
    options.headers.emplace_back(QueryProgressPoller::kHeader, progress_key);
  }
  auto stream = impl_->Explain(impl_->client->DoGet(options, fl::Ticket{ticket}));
  ARROW_RETURN_NOT_OK(stream.status());
  std::shared_ptr<fl::FlightStreamReader> shared(std::move(*stream));
  ARROW_ASSIGN_OR_RAISE(auto reader, fl::MakeRecordBatchReader(shared));
  return std::make_shared<AligningReader>(std::move(reader));
}

arrow::Result<std::string> FlightConnection::Action(const std::string& type,
                                                    const std::string& body,
                                                    double timeout_s) {
  fl::Action action{type, arrow::Buffer::FromString(body)};
  fl::FlightCallOptions options = impl_->options;
  if (timeout_s > 0) options.timeout = fl::TimeoutDuration{timeout_s};
  ARROW_ASSIGN_OR_RAISE(auto results,
                        impl_->Explain(impl_->client->DoAction(options, action)));
  ARROW_ASSIGN_OR_RAISE(auto first, impl_->Explain(results->Next()));
  std::string out = first ? first->body->ToString() : "";
  ARROW_RETURN_NOT_OK(results->Drain());
  return out;
}

arrow::Result<std::string> FlightConnection::ActionResults(
    const std::string& type, const std::string& body,
    const std::function<void(const std::string&)>& each) {
  fl::Action action{type, arrow::Buffer::FromString(body)};
  ARROW_ASSIGN_OR_RAISE(auto results,
                        impl_->Explain(impl_->client->DoAction(impl_->options, action)));
  std::string last;
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto next, impl_->Explain(results->Next()));
    if (!next) break;
    last = next->body->ToString();
    each(last);
  }
  return last;
}

arrow::Result<std::vector<RemoteTable>> FlightConnection::ListTables() {
  ARROW_ASSIGN_OR_RAISE(auto listing,
                        impl_->Explain(impl_->client->ListFlights(impl_->options, {})));
  std::vector<RemoteTable> out;
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto info, impl_->Explain(listing->Next()));
    if (!info) break;
    RemoteTable table;
    const auto& d = info->descriptor();
    table.name = d.type == fl::FlightDescriptor::PATH && !d.path.empty() ? d.path[0] : d.cmd;
    table.rows = info->total_records();
    arrow::ipc::DictionaryMemo memo;
    auto schema = info->GetSchema(&memo);
    if (schema.ok()) table.schema = (*schema)->ToString();
    out.push_back(std::move(table));
  }
  return out;
}

}  // namespace arrowport::cli
