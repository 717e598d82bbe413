#pragma once

#include <cstdint>
#include <span>

#include "arrow/result.h"

namespace arrowport::flight {

/// What one Arrow IPC message will cost once Arrow decodes it.
struct IpcDecodedSize {
  enum class Kind { kOther, kSchema, kRecordBatch, kDictionaryBatch };
  Kind kind = Kind::kOther;  ///< kOther: tensor, ...; nothing is counted but for batches
  bool compressed = false;   ///< the batch declares body compression (ZSTD / LZ4_FRAME)
  int64_t decoded_bytes = 0;  ///< total bytes of the batch's buffers once decoded
};

/// \brief Reads the header of one Arrow IPC message without decoding it: `metadata` is
/// the Message flatbuffer (format/Message.fbs, without length prefix or continuation
/// marker, as in FlightData.data_header) and `body` the message body.
///
/// Verifies the flatbuffer structure of the fields it reads. For a RecordBatch or a
/// DictionaryBatch returns the bytes its buffers occupy once decoded: for a compressed
/// batch the sum of each buffer's declared uncompressed length (the 8-byte little-endian
/// prefix; -1 means the buffer is stored uncompressed: its length minus 8), otherwise the
/// sum of the buffer lengths. Refuses (Invalid) a malformed header, negative or
/// overflowing values and buffers that do not lie inside `body`. Nothing is allocated in
/// proportion to the declared sizes (a `metadata` that is not 8-byte aligned, as gRPC may
/// hand it over, is copied). Thread-safe (no state).
arrow::Result<IpcDecodedSize> DecodedSizeOfIpcMessage(std::span<const uint8_t> metadata,
                                                      std::span<const uint8_t> body);

}  // namespace arrowport::flight
