#include "arrowport/flight/exchange.h"

#include <nlohmann/json.hpp>

#include "arrow/record_batch.h"
#include "arrow/type.h"
#include "arrowport/common/json_util.h"
#include "arrowport/flight/call_runner.h"
#include "arrowport/flight/call_scope.h"
#include "arrowport/ingest/ingest_pipeline.h"

namespace arrowport::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

namespace {

// Writes an exchange's results: the schema once (every result must keep it), then the
// batches as they come.
class ResultWriter {
 public:
  ResultWriter(fl::FlightMessageWriter* writer, WriteStall* stall)
      : writer_(writer), stall_(stall) {}
  arrow::Status Write(arrow::RecordBatchReader* results) {
    if (schema_ == nullptr) {
      schema_ = results->schema();
      ARROW_RETURN_NOT_OK(writer_->Begin(schema_));
    } else if (!results->schema()->Equals(*schema_)) {
      return arrow::Status::Invalid("the transform's result schema changed from batch to "
                                    "batch (", schema_->ToString(), " then ",
                                    results->schema()->ToString(), ")");
    }
    while (true) {
      std::shared_ptr<arrow::RecordBatch> batch;
      ARROW_RETURN_NOT_OK(results->ReadNext(&batch));
      if (batch == nullptr) return arrow::Status::OK();
      rows_ += batch->num_rows();
      WriteStall::Scope waiting(stall_);
      ARROW_RETURN_NOT_OK(writer_->WriteRecordBatch(*batch));
    }
  }
  int64_t rows() const { return rows_; }

 private:
  fl::FlightMessageWriter* writer_;
  WriteStall* stall_;  // may be null
  std::shared_ptr<arrow::Schema> schema_;
  int64_t rows_ = 0;
};

}  // namespace

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
  if (auto each = doc.find("each_batch"); each != doc.end()) {
    if (!each->is_boolean()) {
      return arrow::Status::Invalid("DoExchange: 'each_batch' must be true or false");
    }
    command.each_batch = each->get<bool>();
    doc.erase(each);
  }
  if (doc.contains("transform")) {
    return arrow::Status::Invalid("DoExchange: give the transform as 'sql'");
  }
  if (!doc.empty()) {
    if (!doc.contains("stream") && !doc.contains("stream_name")) {
      const std::string& key = doc.begin().key();
      const bool ingest_field = key == "table" || key == "mode" || key == "commit" ||
                                key == "request_id" || key == "sealed";
      if (ingest_field) {
        return arrow::Status::Invalid("DoExchange: the field '", key, "' needs \"stream\"");
      }
      return arrow::Status::Invalid("DoExchange: unknown field '", key,
                                    "' (known: sql, each_batch; with stream: table, mode, "
                                    "commit, request_id)");
    }
    if (command.each_batch) {
      return arrow::Status::Invalid("DoExchange: 'each_batch' answers batches; with "
                                    "\"stream\" the rows land in a table instead");
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

std::string BatchAckJson(int64_t index, int64_t rows) {
  return json{{"batch", index}, {"rows", rows}, {"committed", true}}.dump();
}

arrow::Status RunExchange(const ExchangeCommand& command, ingest::IngestPipeline* pipeline,
                          const fl::ServerCallContext& context, const CallContext& call,
                          std::unique_ptr<fl::FlightMessageReader> reader,
                          fl::FlightMessageWriter* writer, CallRecord* record) {
  ARROW_ASSIGN_OR_RAISE(auto source,
                        PutReader::Make(std::move(reader), &context,
                                        command.ingest && command.ingest->sealed));
  if (command.ingest) {
    ARROW_ASSIGN_OR_RAISE(auto run, pipeline->Begin(*command.ingest));
    // The DoPut of a transformed stream: acknowledgements and the summary come back.
    auto ack = [&](int64_t index, int64_t rows) {
      WriteStall::Scope waiting(call.write_stall.get());
      return writer->WriteMetadata(arrow::Buffer::FromString(BatchAckJson(index, rows)));
    };
    ARROW_ASSIGN_OR_RAISE(auto result, pipeline->Ingest(std::move(run), source, ack, call));
    WriteStall::Scope waiting(call.write_stall.get());
    ARROW_RETURN_NOT_OK(
        writer->WriteMetadata(arrow::Buffer::FromString(IngestSummaryJson(result))));
    record->fields.push_back({"table", result.table});
    record->fields.push_back({"rows", std::to_string(result.rows)});
    return arrow::Status::OK();
  }
  ResultWriter out(writer, call.write_stall.get());
  if (!command.each_batch) {
    ARROW_ASSIGN_OR_RAISE(auto results, pipeline->Exchange(command.sql, source, call));
    ARROW_RETURN_NOT_OK(out.Write(results.get()));
  } else {
    // Each batch through the SQL on its own, answered before the next is read; the
    // write cap counts the whole call.
    auto budget = pipeline->NewWriteBudget(call);
    bool any = false;
    while (true) {
      std::shared_ptr<arrow::RecordBatch> batch;
      ARROW_RETURN_NOT_OK(source->ReadNext(&batch));
      if (batch == nullptr && any) break;
      std::vector<std::shared_ptr<arrow::RecordBatch>> one;
      if (batch != nullptr) one.push_back(std::move(batch));
      ARROW_ASSIGN_OR_RAISE(auto input, arrow::RecordBatchReader::Make(one, source->schema()));
      ARROW_ASSIGN_OR_RAISE(auto results,
                            pipeline->Exchange(command.sql, input, call, budget));
      ARROW_RETURN_NOT_OK(out.Write(results.get()));
      if (one.empty()) break;  // no input at all: answered once, over no rows
      any = true;
    }
  }
  record->fields.push_back({"rows", std::to_string(out.rows())});
  return arrow::Status::OK();
}

}  // namespace arrowport::flight
