#pragma once

// Internal to the Flight adapter: DoExchange (design section 5), a client's stream through
// SQL over `input`, and the summary every ingest over Flight answers with.

#include <arrow/flight/server.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "arrow/result.h"
#include "arrowport/common/call_context.h"
#include "arrowport/ingest/ingest_request.h"
#include "arrowport/ingest/ingest_result.h"

namespace arrowport::ingest {
class IngestPipeline;
}

namespace arrowport::flight {

struct CallRecord;

/// \brief What a DoExchange asks (CMD JSON): `{"sql": "SELECT ... FROM input"}` streams
/// the result back; with `"stream"` (and the DoPut fields table, mode, commit,
/// request_id) the transformed rows land in that stream's table instead, and the
/// acknowledgements stream back as DoPut's do.
struct ExchangeCommand {
  std::string sql;
  std::optional<ingest::IngestRequest> ingest;
  /// `"each_batch": true`: every incoming batch is `input` on its own and is answered
  /// before the next is read (the seed's exchangers; a client may send one batch and wait
  /// for its answer). Otherwise `input` is the whole stream, and DuckDB may read a batch
  /// ahead before it answers.
  bool each_batch = false;
};

arrow::Result<ExchangeCommand> ParseExchangeCommand(
    const arrow::flight::FlightDescriptor& descriptor);

/// The JSON a finished ingest answers with (DoPut's last PutResult, copy_from's result).
std::string IngestSummaryJson(const ingest::IngestResult& result);

/// The JSON that acknowledges one committed batch (per_batch; DoPut and DoExchange).
std::string BatchAckJson(int64_t index, int64_t rows);

/// \brief Runs one exchange: reads the client's batches as they come (validated and read
/// ahead by the pipeline) and writes the result batches back as DuckDB produces them,
/// reading and writing at once. Errors, including ones DuckDB raises mid-stream, end
/// the call with their status.
arrow::Status RunExchange(const ExchangeCommand& command, ingest::IngestPipeline* pipeline,
                          const arrow::flight::ServerCallContext& context,
                          const CallContext& call,
                          std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                          arrow::flight::FlightMessageWriter* writer, CallRecord* record);

}  // namespace arrowport::flight
