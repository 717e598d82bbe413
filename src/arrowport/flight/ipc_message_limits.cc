#include "arrowport/flight/ipc_message_limits.h"

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "arrow/status.h"

namespace arrowport::flight {

namespace {

// Field ids of format/Message.fbs and format/Schema.fbs, as vtable offsets (4 + 2 * id).
constexpr flatbuffers::voffset_t FieldOffset(int id) {
  return static_cast<flatbuffers::voffset_t>(4 + 2 * id);
}
// table Message { version; header: MessageHeader (type id 1, value id 2); bodyLength }
constexpr auto kMessageHeaderType = FieldOffset(1);
constexpr auto kMessageHeader = FieldOffset(2);
// union MessageHeader { Schema = 1, DictionaryBatch = 2, RecordBatch = 3, Tensor, ... }
constexpr uint8_t kHeaderSchema = 1;
constexpr uint8_t kHeaderDictionaryBatch = 2;
constexpr uint8_t kHeaderRecordBatch = 3;
// table RecordBatch { length; nodes; buffers: [Buffer]; compression; ... }
constexpr auto kRecordBatchBuffers = FieldOffset(2);
constexpr auto kRecordBatchCompression = FieldOffset(3);
// table BodyCompression { codec: CompressionType; method = BUFFER }
constexpr auto kCompressionCodec = FieldOffset(0);
constexpr auto kCompressionMethod = FieldOffset(1);
constexpr int8_t kCompressionMethodBuffer = 0;
// table DictionaryBatch { id; data: RecordBatch; isDelta }
constexpr auto kDictionaryBatchData = FieldOffset(1);
// struct Buffer { offset: long; length: long } (Schema.fbs): 16 bytes, inline.
constexpr size_t kBufferStructSize = 16;
// A compressed buffer starts with its uncompressed length; -1: stored uncompressed.
constexpr int64_t kPrefixSize = 8;
constexpr int64_t kStoredUncompressed = -1;
// Arrow's own verifier limits (arrow/ipc/metadata_internal.h).
constexpr flatbuffers::uoffset_t kMaxDepth = 128;
constexpr flatbuffers::uoffset_t kMaxTables = 1000000;

int64_t LoadInt64(const uint8_t* p) {
  int64_t value;
  std::memcpy(&value, p, sizeof(value));
  return flatbuffers::EndianScalar(value);
}

arrow::Status Malformed(const char* what) {
  return arrow::Status::Invalid("IPC message header is malformed: ", what);
}

// Returns the table at `field` of `parent` once its vtable and the fields this file
// reads are verified, or nullptr when the field is absent.
arrow::Result<const flatbuffers::Table*> VerifiedTable(flatbuffers::Verifier& verifier,
                                                       const flatbuffers::Table& parent,
                                                       flatbuffers::voffset_t field,
                                                       const char* name) {
  if (!parent.VerifyOffset(verifier, field)) return Malformed(name);
  const auto* table = parent.GetPointer<const flatbuffers::Table*>(field);
  if (table == nullptr) return table;
  if (!table->VerifyTableStart(verifier)) return Malformed(name);
  return table;
}

arrow::Result<IpcDecodedSize> BatchSize(flatbuffers::Verifier& verifier,
                                        const flatbuffers::Table& batch,
                                        std::span<const uint8_t> body) {
  IpcDecodedSize out;
  if (!batch.VerifyOffset(verifier, kRecordBatchBuffers)) return Malformed("buffers");
  const auto* buffers = batch.GetPointer<const uint8_t*>(kRecordBatchBuffers);
  if (buffers != nullptr && !verifier.VerifyVectorOrString(buffers, kBufferStructSize)) {
    return Malformed("buffers");
  }
  ARROW_ASSIGN_OR_RAISE(
      const auto* compression,
      VerifiedTable(verifier, batch, kRecordBatchCompression, "compression"));
  if (compression != nullptr) {
    if (!compression->VerifyField<int8_t>(verifier, kCompressionCodec, 1) ||
        !compression->VerifyField<int8_t>(verifier, kCompressionMethod, 1)) {
      return Malformed("compression");
    }
    if (compression->GetField<int8_t>(kCompressionMethod, kCompressionMethodBuffer) !=
        kCompressionMethodBuffer) {
      return arrow::Status::Invalid("IPC body compression method is not BUFFER");
    }
    verifier.EndTable();
    out.compressed = true;
  }
  verifier.EndTable();  // the batch
  if (buffers == nullptr) return out;

  const auto count = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(buffers);
  const uint8_t* entry = buffers + sizeof(flatbuffers::uoffset_t);
  const auto body_size = static_cast<int64_t>(body.size());
  for (flatbuffers::uoffset_t i = 0; i < count; ++i, entry += kBufferStructSize) {
    const int64_t offset = LoadInt64(entry);
    const int64_t length = LoadInt64(entry + 8);
    if (offset < 0 || length < 0 || offset > body_size || length > body_size - offset) {
      return arrow::Status::Invalid("IPC buffer ", i, " (offset ", offset, ", length ",
                                    length, ") lies outside the ", body_size,
                                    "-byte message body");
    }
    int64_t decoded = length;
    if (out.compressed && length > 0) {
      if (length < kPrefixSize) {
        return arrow::Status::Invalid("IPC compressed buffer ", i,
                                      " is shorter than its ", kPrefixSize,
                                      "-byte length prefix");
      }
      decoded = LoadInt64(body.data() + offset);
      if (decoded == kStoredUncompressed) {
        decoded = length - kPrefixSize;
      } else if (decoded < 0) {
        return arrow::Status::Invalid("IPC compressed buffer ", i,
                                      " declares a negative uncompressed length (",
                                      decoded, ")");
      }
    }
    if (decoded > std::numeric_limits<int64_t>::max() - out.decoded_bytes) {
      return arrow::Status::Invalid("IPC buffers declare more than 2^63 bytes decoded");
    }
    out.decoded_bytes += decoded;
  }
  return out;
}

// DecodedSizeOfIpcMessage once `metadata` is 8-byte aligned (flatbuffers reads its
// scalars in place, and verifies their alignment relative to the buffer's start only).
arrow::Result<IpcDecodedSize> SizeOfAlignedMessage(std::span<const uint8_t> metadata,
                                                   std::span<const uint8_t> body) {
  flatbuffers::Verifier verifier(metadata.data(), metadata.size(), kMaxDepth, kMaxTables);
  if (!verifier.VerifyOffset(size_t{0})) return Malformed("root offset");
  const auto* message = flatbuffers::GetRoot<flatbuffers::Table>(metadata.data());
  if (!message->VerifyTableStart(verifier) ||
      !message->VerifyField<uint8_t>(verifier, kMessageHeaderType, 1)) {
    return Malformed("Message");
  }
  const uint8_t type = message->GetField<uint8_t>(kMessageHeaderType, 0);
  if (type != kHeaderRecordBatch && type != kHeaderDictionaryBatch) {
    IpcDecodedSize other;
    if (type == kHeaderSchema) other.kind = IpcDecodedSize::Kind::kSchema;
    return other;
  }
  ARROW_ASSIGN_OR_RAISE(const auto* header,
                        VerifiedTable(verifier, *message, kMessageHeader, "header"));
  if (header == nullptr) return Malformed("a batch message without its header");
  IpcDecodedSize out;
  if (type == kHeaderDictionaryBatch) {
    ARROW_ASSIGN_OR_RAISE(const auto* data,
                          VerifiedTable(verifier, *header, kDictionaryBatchData, "data"));
    if (data == nullptr) return Malformed("a dictionary batch without data");
    ARROW_ASSIGN_OR_RAISE(out, BatchSize(verifier, *data, body));
    out.kind = IpcDecodedSize::Kind::kDictionaryBatch;
  } else {
    ARROW_ASSIGN_OR_RAISE(out, BatchSize(verifier, *header, body));
    out.kind = IpcDecodedSize::Kind::kRecordBatch;
  }
  return out;
}

}  // namespace

arrow::Result<IpcDecodedSize> DecodedSizeOfIpcMessage(std::span<const uint8_t> metadata,
                                                      std::span<const uint8_t> body) {
  if (metadata.size() < sizeof(flatbuffers::uoffset_t) ||
      metadata.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Malformed("size");
  }
  // gRPC hands FlightData.data_header over at any address (Arrow's own reader copies a
  // misaligned header too): reading it in place would be misaligned loads.
  if (reinterpret_cast<uintptr_t>(metadata.data()) % alignof(uint64_t) != 0) {
    std::vector<uint64_t> aligned((metadata.size() + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    std::memcpy(aligned.data(), metadata.data(), metadata.size());
    return SizeOfAlignedMessage(
        {reinterpret_cast<const uint8_t*>(aligned.data()), metadata.size()}, body);
  }
  return SizeOfAlignedMessage(metadata, body);
}

}  // namespace arrowport::flight
