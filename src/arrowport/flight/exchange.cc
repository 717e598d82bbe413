#include "arrowport/flight/exchange.h"

#include <nlohmann/json.hpp>

#include "arrow/record_batch.h"
#include "arrowport/common/json_util.h"
#include "arrowport/flight/call_runner.h"
#include "arrowport/flight/call_scope.h"
#include "arrowport/ingest/ingest_pipeline.h"

namespace arrowport::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

arrow::Result<ExchangeCommand> ParseExchangeCommand(const fl::FlightDescriptor& descriptor) {
  constexpr const char* kUsage =
      "DoExchange needs a CMD descriptor holding JSON {\"sql\": \"SELECT ... FROM input\"} "
      "(optionally with \"stream\" to land the result in that stream's table)";
  if (descriptor.type != fl::FlightDescriptor::CMD || !LooksLikeJsonObject(descriptor.cmd)) {
    return arrow::Status::Invalid(kUsage);
  }
  auto doc = json::parse(descriptor.cmd, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return arrow::Status::Invalid(kUsage);
  ExchangeCommand command;
  auto sql = doc.find("sql");
  if (sql == doc.end() || !sql->is_string()) return arrow::Status::Invalid(kUsage);
  command.sql = sql->get<std::string>();
  if (command.sql.find_first_not_of(" \t\r\n;") == std::string::npos) {
    return arrow::Status::Invalid("DoExchange: 'sql' is empty");
  }
  doc.erase(sql);
  if (doc.contains("transform")) {
    return arrow::Status::Invalid("DoExchange: give the transform as 'sql'");
  }
  if (!doc.empty()) {
    if (!doc.contains("stream") && !doc.contains("stream_name")) {
      return arrow::Status::Invalid("DoExchange: unknown field '", doc.begin().key(),
                                    "' (known: sql, and with stream: table, mode, commit, "
                                    "request_id)");
    }
    ARROW_ASSIGN_OR_RAISE(auto request, ingest::ParseDescriptor(false, {}, doc.dump()));
    request.transform = command.sql;
    command.ingest = std::move(request);
  }
  return command;
}

std::string IngestSummaryJson(const ingest::IngestResult& result) {
  const json summary = {{"stream", result.stream},   {"table", result.table},
                        {"rows", result.rows},       {"batches", result.batches},
                        {"bytes", result.bytes},     {"seconds", result.seconds},
                        {"created", result.created}, {"committed", true},
                        {"duplicate", result.duplicate}};
  return summary.dump();
}

arrow::Status RunExchange(const ExchangeCommand& command, ingest::IngestPipeline* pipeline,
                          const fl::ServerCallContext& context, const CallContext& call,
                          std::unique_ptr<fl::FlightMessageReader> reader,
                          fl::FlightMessageWriter* writer, CallRecord* record) {
  std::shared_ptr<fl::FlightMessageReader> shared(std::move(reader));
  ARROW_ASSIGN_OR_RAISE(auto batches, fl::MakeRecordBatchReader(shared));
  auto source = std::make_shared<PutReader>(batches, &context);
  if (command.ingest) {
    // The DoPut of a transformed stream: acknowledgements and the summary come back.
    auto ack = [&](int64_t index, int64_t rows) {
      const json doc = {{"batch", index}, {"rows", rows}, {"committed", true}};
      return writer->WriteMetadata(arrow::Buffer::FromString(doc.dump()));
    };
    ARROW_ASSIGN_OR_RAISE(auto result, pipeline->Ingest(*command.ingest, source, ack, call));
    ARROW_RETURN_NOT_OK(writer->WriteMetadata(arrow::Buffer::FromString(IngestSummaryJson(result))));
    record->fields.push_back({"table", result.table});
    record->fields.push_back({"rows", std::to_string(result.rows)});
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto results, pipeline->Exchange(command.sql, source, call));
  ARROW_RETURN_NOT_OK(writer->Begin(results->schema()));
  int64_t rows = 0;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(results->ReadNext(&batch));
    if (batch == nullptr) break;
    rows += batch->num_rows();
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
  }
  record->fields.push_back({"rows", std::to_string(rows)});
  return arrow::Status::OK();
}

}  // namespace arrowport::flight
