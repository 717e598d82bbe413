#include "arrowport/cli/sql_session.h"

#include <arrow/flight/api.h>
#include <arrow/flight/sql/client.h>

#include <mutex>

#include "arrow/io/memory.h"
#include "arrow/ipc/reader.h"
#include "arrow/array.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/query_progress.h"

namespace arrowport::cli {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

namespace {

// The statement running now, shared by its reader and Cancel() (another thread).
struct RunningStatement {
  std::mutex mu;
  std::shared_ptr<fl::FlightStreamReader> stream;  // the endpoint being read
  bool cancelled = false;
  // Cancelled once its rows were to be read (a stream open, or about to be): a query
  // stopped there; a statement without rows ran whole in the call that planned it.
  bool cancelled_while_reading = false;
};

arrow::Status CancelledStatus() { return arrow::Status::Cancelled("cancelled (Ctrl-C)"); }

// Every endpoint of a result, read in turn, as one reader.
class EndpointsReader : public arrow::RecordBatchReader {
 public:
  EndpointsReader(std::shared_ptr<fsql::FlightSqlClient> client, fl::FlightCallOptions options,
                  std::vector<fl::FlightEndpoint> endpoints,
                  std::shared_ptr<RunningStatement> running)
      : client_(std::move(client)),
        options_(std::move(options)),
        endpoints_(std::move(endpoints)),
        running_(std::move(running)) {}

  // The first endpoint is opened at once: its stream carries the schema.
  arrow::Status Start(const std::shared_ptr<arrow::Schema>& announced) {
    schema_ = announced;
    ARROW_ASSIGN_OR_RAISE(const bool opened, OpenNext());
    if (opened) {
      ARROW_ASSIGN_OR_RAISE(schema_, current_->GetSchema());
    }
    if (schema_ == nullptr) schema_ = arrow::schema({});
    return arrow::Status::OK();
  }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    batch->reset();
    while (current_ != nullptr) {
      auto chunk = current_->Next();
      if (!chunk.ok()) return Explained(chunk.status());
      if (chunk->data != nullptr) {
        *batch = std::move(chunk->data);
        return arrow::Status::OK();
      }
      ARROW_ASSIGN_OR_RAISE(const bool opened, OpenNext());
      if (!opened) break;
    }
    return arrow::Status::OK();
  }

 private:
  // Opens the next endpoint's stream; false when none is left.
  arrow::Result<bool> OpenNext() {
    current_.reset();
    {
      std::lock_guard<std::mutex> lock(running_->mu);
      running_->stream.reset();
    }
    {
      std::lock_guard<std::mutex> lock(running_->mu);
      if (running_->cancelled) return StoppedBeforeItsRows();
    }
    if (next_ >= endpoints_.size()) return false;
    auto stream = client_->DoGet(options_, endpoints_[next_++].ticket);
    if (!stream.ok()) return Explained(stream.status());
    std::shared_ptr<fl::FlightStreamReader> shared(std::move(*stream));
    // Every part of a result has the first one's columns: a server that sends another
    // shape (a wrong answer printed under the wrong heading) is refused.
    if (schema_ != nullptr && next_ > 1) {
      ARROW_ASSIGN_OR_RAISE(auto schema, shared->GetSchema());
      if (!schema->Equals(*schema_, /*check_metadata=*/false)) {
        shared->Cancel();
        return arrow::Status::IOError("the server sent part ", next_, " of the result with "
                                      "other columns than its first part: ", schema->ToString());
      }
    }
    std::lock_guard<std::mutex> lock(running_->mu);
    if (running_->cancelled) {
      // Ctrl-C while the stream opened (the server's DoGet had begun): its query stops.
      shared->Cancel();
      running_->cancelled_while_reading = true;
      return CancelledStatus();
    }
    running_->stream = current_ = std::move(shared);
    return true;
  }

  // Cancelled after the plan, before a stream opened (under running_->mu): a query with
  // columns to read had not run yet; one without any ran whole when it was planned.
  arrow::Status StoppedBeforeItsRows() {
    if (schema_ != nullptr && schema_->num_fields() > 0) {
      running_->cancelled_while_reading = true;
    }
    return CancelledStatus();
  }

  arrow::Status Explained(const arrow::Status& status) const {
    std::lock_guard<std::mutex> lock(running_->mu);
    return running_->cancelled ? CancelledStatus() : status;
  }

  std::shared_ptr<fsql::FlightSqlClient> client_;
  fl::FlightCallOptions options_;
  std::vector<fl::FlightEndpoint> endpoints_;
  size_t next_ = 0;
  std::shared_ptr<RunningStatement> running_;
  std::shared_ptr<fl::FlightStreamReader> current_;
  std::shared_ptr<arrow::Schema> schema_;
};

std::string CellText(const std::shared_ptr<arrow::Array>& column, int64_t row) {
  auto scalar = column->GetScalar(row);
  if (!scalar.ok() || !(*scalar)->is_valid) return "";
  if (column->type_id() == arrow::Type::STRING) {
    return std::string(static_cast<const arrow::StringArray&>(*column).GetView(row));
  }
  return (*scalar)->ToString();
}

}  // namespace

struct SqlSession::Impl {
  std::unique_ptr<FlightConnection> connection;  // signs in; owns the Flight client
  std::shared_ptr<fsql::FlightSqlClient> client;
  // The sign-in's options, reading batches with their buffers aligned: a received
  // batch's buffers sit wherever they were in the gRPC message, and its values are read
  // here (printing, a table's name) through typed pointers (UBSan: misaligned loads).
  fl::FlightCallOptions options;
  std::mutex mu;
  std::shared_ptr<RunningStatement> running;  // the statement running now, if any

  // Runs `call` (a planning call: nothing has run when it is refused), and once more
  // after signing in again when it was refused for an expired token (a shell open longer
  // than auth.token_ttl_s) and there are credentials to sign in with.
  template <typename Call>
  auto SignedIn(const Call& call) -> decltype(call()) {
    auto answer = call();
    const auto detail = fl::FlightStatusDetail::UnwrapStatus(answer.status());
    if (!detail || detail->code() != fl::FlightStatusCode::Unauthenticated ||
        !CredentialsFromEnvironment().has_value()) {
      return answer;
    }
    ARROW_RETURN_NOT_OK(connection->SignIn());
    options.headers = connection->call_options().headers;
    return call();
  }
};

SqlSession::SqlSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqlSession::~SqlSession() = default;

arrow::Result<std::unique_ptr<SqlSession>> SqlSession::Connect(const std::string& url,
                                                               const std::string& tls_ca,
                                                               double connect_wait_s) {
  auto impl = std::make_unique<Impl>();
  ARROW_ASSIGN_OR_RAISE(impl->connection, FlightConnection::Connect(url, tls_ca, connect_wait_s));
  impl->client = std::make_shared<fsql::FlightSqlClient>(impl->connection->flight_client());
  impl->options = impl->connection->call_options();
  impl->options.read_options.ensure_alignment = arrow::ipc::Alignment::kDataTypeSpecificAlignment;
  return std::unique_ptr<SqlSession>(new SqlSession(std::move(impl)));
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> SqlSession::Execute(
    const std::string& sql, const std::string& progress_key) {
  auto running = std::make_shared<RunningStatement>();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->running = running;
  }
  auto info = impl_->SignedIn([&] { return impl_->client->Execute(impl_->options, sql); });
  ARROW_RETURN_NOT_OK(info.status());
  fl::FlightCallOptions options = impl_->options;
  if (!progress_key.empty()) {
    options.headers.emplace_back(QueryProgressPoller::kHeader, progress_key);
  }
  arrow::ipc::DictionaryMemo memo;
  auto announced = (*info)->GetSchema(&memo);
  auto reader = std::make_shared<EndpointsReader>(impl_->client, options, (*info)->endpoints(),
                                                  std::move(running));
  ARROW_RETURN_NOT_OK(reader->Start(announced.ok() ? *announced : nullptr));
  return reader;
}

arrow::Result<std::string> SqlSession::QueryProgress(const std::string& body) {
  return impl_->connection->Action("query_progress", body, QueryProgressPoller::kAskTimeoutS);
}

bool SqlSession::Cancel() {
  std::shared_ptr<RunningStatement> running;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    running = impl_->running;
  }
  if (running == nullptr) return false;
  std::lock_guard<std::mutex> lock(running->mu);
  running->cancelled = true;
  if (running->stream == nullptr) return false;
  running->cancelled_while_reading = true;
  running->stream->Cancel();
  return true;
}

bool SqlSession::CancelledWhileReading() const {
  std::shared_ptr<RunningStatement> running;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    running = impl_->running;
  }
  if (running == nullptr) return false;
  std::lock_guard<std::mutex> lock(running->mu);
  return running->cancelled_while_reading;
}

arrow::Result<std::vector<SqlTable>> SqlSession::Tables(const std::string& name_pattern,
                                                        bool with_columns) {
  ARROW_ASSIGN_OR_RAISE(auto info, impl_->SignedIn([&] {
    return impl_->client->GetTables(impl_->options, nullptr, nullptr,
                                    name_pattern.empty() ? nullptr : &name_pattern,
                                    with_columns, nullptr);
  }));
  const fl::FlightCallOptions& options = impl_->options;
  std::vector<SqlTable> out;
  for (const auto& endpoint : info->endpoints()) {
    ARROW_ASSIGN_OR_RAISE(auto stream, impl_->client->DoGet(options, endpoint.ticket));
    ARROW_ASSIGN_OR_RAISE(auto table, stream->ToTable());
    if (table->num_rows() == 0) continue;
    ARROW_ASSIGN_OR_RAISE(table, table->CombineChunks());
    const auto column = [&](const char* name) { return table->GetColumnByName(name); };
    auto schemas = column("db_schema_name"), names = column("table_name"),
         types = column("table_type"), layouts = column("table_schema");
    // The columns Flight SQL defines, of the types it defines (a server's answer).
    const auto is = [](const std::shared_ptr<arrow::ChunkedArray>& c, arrow::Type::type id) {
      return c == nullptr || c->type()->id() == id;
    };
    if (names == nullptr || !is(names, arrow::Type::STRING) ||
        !is(schemas, arrow::Type::STRING) || !is(types, arrow::Type::STRING) ||
        !is(layouts, arrow::Type::BINARY)) {
      return arrow::Status::IOError("the server's GetTables answer is not Flight SQL's: ",
                                    table->schema()->ToString());
    }
    for (int64_t row = 0; row < table->num_rows(); ++row) {
      SqlTable entry;
      if (schemas) entry.schema = CellText(schemas->chunk(0), row);
      entry.name = CellText(names->chunk(0), row);
      if (types) entry.type = CellText(types->chunk(0), row);
      if (with_columns && layouts != nullptr && layouts->chunk(0)->IsValid(row)) {
        const auto& bytes = static_cast<const arrow::BinaryArray&>(*layouts->chunk(0));
        arrow::io::BufferReader in(arrow::Buffer::FromString(std::string(bytes.GetView(row))));
        arrow::ipc::DictionaryMemo memo;
        ARROW_ASSIGN_OR_RAISE(entry.columns, arrow::ipc::ReadSchema(&in, &memo));
      }
      out.push_back(std::move(entry));
    }
  }
  return out;
}

}  // namespace arrowport::cli
