#include "arrowport/flight/rpc_status.h"

namespace arrowport::flight {

namespace {

constexpr const char* kRetryInfoType = "type.googleapis.com/google.rpc.RetryInfo";

// Protobuf wire format, just what google.rpc.Status needs: varints and
// length-delimited fields.
void PutVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void PutVarintField(std::string* out, int number, uint64_t value) {
  PutVarint(out, static_cast<uint64_t>(number) << 3);
  PutVarint(out, value);
}

void PutBytesField(std::string* out, int number, std::string_view bytes) {
  PutVarint(out, (static_cast<uint64_t>(number) << 3) | 2);
  PutVarint(out, bytes.size());
  out->append(bytes);
}

// Reads one varint at `*pos`; false when truncated or longer than 64 bits.
bool GetVarint(std::string_view in, size_t* pos, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= in.size()) return false;
    const auto byte = static_cast<uint8_t>(in[(*pos)++]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

struct WireField {
  int number = 0;
  int wire_type = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

// Reads the field at `*pos`; false on anything but a varint or length-delimited field.
bool GetField(std::string_view in, size_t* pos, WireField* field) {
  uint64_t tag = 0;
  if (!GetVarint(in, pos, &tag)) return false;
  field->number = static_cast<int>(tag >> 3);
  field->wire_type = static_cast<int>(tag & 7);
  if (field->wire_type == 0) return GetVarint(in, pos, &field->varint);
  if (field->wire_type != 2) return false;
  uint64_t size = 0;
  if (!GetVarint(in, pos, &size) || size > in.size() - *pos) return false;
  field->bytes = in.substr(*pos, size);
  *pos += size;
  return true;
}

// The seconds of a RetryInfo's retry_delay (a google.protobuf.Duration).
int64_t RetrySeconds(std::string_view retry_info) {
  size_t pos = 0;
  WireField field;
  while (pos < retry_info.size() && GetField(retry_info, &pos, &field)) {
    if (field.number != 1 || field.wire_type != 2) continue;
    size_t inner = 0;
    WireField duration;
    while (inner < field.bytes.size() && GetField(field.bytes, &inner, &duration)) {
      if (duration.number == 1 && duration.wire_type == 0) {
        return static_cast<int64_t>(duration.varint);
      }
    }
  }
  return 0;
}

}  // namespace

std::string EncodeRpcStatus(int code, std::string_view message, int64_t retry_after_s) {
  std::string out;
  PutVarintField(&out, 1, static_cast<uint64_t>(code));
  PutBytesField(&out, 2, message);
  if (retry_after_s > 0) {
    std::string duration;
    PutVarintField(&duration, 1, static_cast<uint64_t>(retry_after_s));
    std::string retry_info;
    PutBytesField(&retry_info, 1, duration);
    std::string any;
    PutBytesField(&any, 1, kRetryInfoType);
    PutBytesField(&any, 2, retry_info);
    PutBytesField(&out, 3, any);
  }
  return out;
}

std::optional<RpcStatusSummary> DecodeRpcStatus(std::string_view bytes) {
  RpcStatusSummary summary;
  bool has_code = false;
  size_t pos = 0;
  while (pos < bytes.size()) {
    WireField field;
    if (!GetField(bytes, &pos, &field)) return std::nullopt;
    if (field.number == 1 && field.wire_type == 0) {
      summary.code = static_cast<int>(field.varint);
      has_code = true;
    } else if (field.number == 3 && field.wire_type == 2) {
      size_t inner = 0;
      WireField any_field;
      std::string_view type, value;
      while (inner < field.bytes.size() && GetField(field.bytes, &inner, &any_field)) {
        if (any_field.number == 1) type = any_field.bytes;
        if (any_field.number == 2) value = any_field.bytes;
      }
      if (type == kRetryInfoType) summary.retry_after_s = RetrySeconds(value);
    }
  }
  if (!has_code) return std::nullopt;
  return summary;
}

}  // namespace arrowport::flight
