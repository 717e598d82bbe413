// The Flight ingest's header check: an IPC Message flatbuffer (FlightData.data_header) and
// its body, sized before Arrow decodes anything. Input: a 3-byte little-endian metadata
// length, a byte whose low 3 bits misalign the metadata (gRPC hands it over at any
// address), the metadata, then the body.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "arrowport/flight/ipc_message_limits.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const size_t declared = data[0] | (size_t{data[1]} << 8) | (size_t{data[2]} << 16);
  const size_t misalign = data[3] & 7;
  const size_t metadata_length = declared < size - 4 ? declared : size - 4;
  // Copies, so that ASan sees any read past either span.
  std::vector<uint8_t> metadata_storage(misalign + metadata_length);
  if (metadata_length > 0) {
    std::memcpy(metadata_storage.data() + misalign, data + 4, metadata_length);
  }
  std::vector<uint8_t> body(data + 4 + metadata_length, data + size);
  std::span<const uint8_t> metadata(metadata_storage.data() + misalign, metadata_length);
  auto decoded = arrowport::flight::DecodedSizeOfIpcMessage(metadata, body);
  if (decoded.ok() && decoded->decoded_bytes < 0) __builtin_trap();
  return 0;
}
