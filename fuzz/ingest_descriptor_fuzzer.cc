// Flight DoPut descriptors: the first byte picks PATH (elements separated by NUL bytes) or
// CMD (JSON or a bare stream name); the rest is the descriptor.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "arrowport/ingest/ingest_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool is_path = (data[0] & 1) != 0;
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string> path;
  std::string cmd;
  if (is_path) {
    size_t start = 0;
    for (size_t end; (end = rest.find('\0', start)) != std::string::npos; start = end + 1) {
      path.push_back(rest.substr(start, end - start));
    }
    path.push_back(rest.substr(start));
  } else {
    cmd = rest;
  }
  auto request = arrowport::ingest::ParseDescriptor(is_path, path, cmd);
  if (request.ok()) (void)arrowport::ingest::ToString(request->mode);
  return 0;
}
