// HTTP POST /ingest bodies: Arrow IPC stream bytes through the server's decoding path
// (BodyPipe into RecordBatchStreamReader, the request's capped memory pool,
// BodyDecodeReader) and the ingest pipeline's ValidatingReader, without DuckDB.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "arrow/ipc/reader.h"
#include "arrow/memory_pool.h"
#include "arrowport/common/capped_memory_pool.h"
#include "arrowport/http/body_decode_reader.h"
#include "arrowport/http/body_pipe.h"
#include "drain_batches.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace arrowport;
  // As in http/ingest_handler.cc: a few batches' worth of memory per request.
  auto pool = std::make_shared<CappedMemoryPool>(arrow::system_memory_pool(),
                                                 6 * fuzz::kMaxBatchBytes,
                                                 "limits.max_batch_bytes");
  auto pipe = std::make_shared<http::BodyPipe>(int64_t{8} << 20, pool.get());
  if (size > 0) pipe->Push(reinterpret_cast<const char*>(data), size);
  pipe->Finish();
  auto options = arrow::ipc::IpcReadOptions::Defaults();
  options.memory_pool = pool.get();
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(pipe, options);
  if (reader.ok()) {
    fuzz::DrainLikeTheIngestPipeline(
        std::make_shared<http::BodyDecodeReader>(*reader, pipe, pool, fuzz::kMaxBatchBytes));
  }
  (void)pipe->Close();
  return 0;
}
