#include "arrowport/cli/flight_sql_client.h"

#include <arrow/flight/api.h>
#include <arrow/flight/sql/client.h>

namespace arrowport::cli {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

struct FlightSqlConnection::Impl {
  std::unique_ptr<fsql::FlightSqlClient> client;
  std::shared_ptr<fsql::PreparedStatement> prepared;

  arrow::Result<int64_t> Drain(const fl::FlightInfo& info) {
    int64_t rows = 0;
    for (const auto& endpoint : info.endpoints()) {
      ARROW_ASSIGN_OR_RAISE(auto reader, client->DoGet({}, endpoint.ticket));
      while (true) {
        ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
        if (chunk.data == nullptr) break;
        rows += chunk.data->num_rows();
      }
    }
    return rows;
  }
};

FlightSqlConnection::FlightSqlConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FlightSqlConnection::~FlightSqlConnection() {
  if (impl_->prepared) (void)impl_->prepared->Close();
}

arrow::Result<std::unique_ptr<FlightSqlConnection>> FlightSqlConnection::Connect(
    const std::string& url) {
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(url));
  ARROW_ASSIGN_OR_RAISE(auto flight, fl::FlightClient::Connect(location));
  auto impl = std::make_unique<Impl>();
  impl->client = std::make_unique<fsql::FlightSqlClient>(std::move(flight));
  return std::unique_ptr<FlightSqlConnection>(new FlightSqlConnection(std::move(impl)));
}

arrow::Result<int64_t> FlightSqlConnection::Fetch(const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto info, impl_->client->Execute({}, sql));
  return impl_->Drain(*info);
}

arrow::Result<int64_t> FlightSqlConnection::IngestReplace(
    const std::string& table, std::shared_ptr<arrow::RecordBatchReader> source) {
  fsql::TableDefinitionOptions options;
  options.if_not_exist = fsql::TableDefinitionOptionsTableNotExistOption::kCreate;
  options.if_exists = fsql::TableDefinitionOptionsTableExistsOption::kReplace;
  return impl_->client->ExecuteIngest({}, source, options, table, std::nullopt, std::nullopt,
                                      /*temporary=*/false);
}

arrow::Result<int64_t> FlightSqlConnection::Update(const std::string& sql, double timeout_s) {
  fl::FlightCallOptions options;
  options.timeout = fl::TimeoutDuration{timeout_s};
  return impl_->client->ExecuteUpdate(options, sql);
}

arrow::Status FlightSqlConnection::Prepare(const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(impl_->prepared, impl_->client->Prepare({}, sql));
  return arrow::Status::OK();
}

arrow::Result<int64_t> FlightSqlConnection::RunPrepared() {
  if (!impl_->prepared) return arrow::Status::Invalid("nothing prepared");
  ARROW_ASSIGN_OR_RAISE(auto info, impl_->prepared->Execute());
  return impl_->Drain(*info);
}

}  // namespace arrowport::cli
