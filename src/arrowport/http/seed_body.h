#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/buffer.h"
#include "arrow/record_batch.h"
#include "arrow/result.h"
#include "arrowport/common/capped_memory_pool.h"
#include "arrowport/ingest/ingest_request.h"

namespace arrowport::http {

/// What a seed JSON body (POST /stream/{stream}) carries, decoded from base64.
struct SeedBody {
  ingest::IngestRequest request;
  std::shared_ptr<arrow::Buffer> data;    ///< a whole IPC stream, or batch messages without the schema
  std::shared_ptr<arrow::Buffer> schema;  ///< the schema message, when given apart (may be null)
};

/// \brief Parses the seed's JSON body: `config.target_table` (optional) and
/// `batch.data` / `batch.arrow_schema` (base64 Arrow IPC). Pure: no server state, so it
/// is unit tested and fuzzed on its own. Invalid for anything malformed. simdjson parses
/// `body` (taken to pad it for simdjson without a copy) and simdutf decodes the base64
/// straight into the buffers the IPC reader reads.
arrow::Result<SeedBody> ParseSeedBody(const std::string& stream, std::string body);

/// \brief Opens the batches of `seed` for the ingest pipeline: `data` as a whole IPC
/// stream, or `schema` followed by `data`. Decoding allocates from `pool`; the
/// reader reports undecodable batches as Invalid and a decode past the pool's cap as
/// TooLarge (BodyDecodeReader).
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> OpenSeedBatches(
    const SeedBody& seed, std::shared_ptr<CappedMemoryPool> pool, int64_t max_batch_bytes);

}  // namespace arrowport::http
