#pragma once

#include <memory>

#include "arrow/status.h"
#include "arrow/type_fwd.h"
#include "arrowport/common/call_context.h"
#include "arrowport/config/config.h"
#include "arrowport/ingest/ingest_request.h"
#include "arrowport/ingest/ingest_result.h"

namespace arrowport::lake {
class LakeTable;
}
namespace arrowport::metrics {
class IngestMeter;
}

namespace arrowport::ingest {

/// \brief Writes one request into a lake table (a stream with `sink: lake`): the same
/// commit modes, schema policies, write modes and request ids as a DuckDB table, ending
/// in Parquet files and Delta commits. per_request: one commit after the last batch
/// (nothing visible before, nothing if it fails); per_batch: a commit per batch,
/// acknowledged through `on_commit` only once durable.
arrow::Status WriteToLake(const std::shared_ptr<lake::LakeTable>& table,
                          const IngestRequest& request, const config::StreamConfig& route,
                          config::CommitMode commit, arrow::RecordBatchReader* source,
                          const BatchCommitted& on_commit, const CallContext& call,
                          metrics::IngestMeter* meter, IngestResult* result);

}  // namespace arrowport::ingest
