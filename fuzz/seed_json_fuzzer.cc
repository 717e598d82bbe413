// The seed's JSON endpoint (POST /stream/{stream}): the JSON body, its base64 Arrow IPC
// and the batches it decodes to, through the same parse and open as http/seed_handler.cc
// and the ingest pipeline's validation, without DuckDB.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "arrow/memory_pool.h"
#include "arrowport/common/capped_memory_pool.h"
#include "arrowport/http/seed_body.h"
#include "drain_batches.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace arrowport;
  const std::string body(reinterpret_cast<const char*>(data), size);
  auto seed = http::ParseSeedBody("events", body);
  if (!seed.ok()) return 0;
  auto pool = std::make_shared<CappedMemoryPool>(arrow::system_memory_pool(),
                                                 2 * fuzz::kMaxBatchBytes,
                                                 "limits.max_batch_bytes");
  auto reader = http::OpenSeedBatches(*seed, pool, fuzz::kMaxBatchBytes);
  if (reader.ok()) fuzz::DrainLikeTheIngestPipeline(*reader);
  return 0;
}
