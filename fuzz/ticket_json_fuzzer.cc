// Flight tickets and query descriptors (and the HTTP /query body): JSON or SQL text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "arrowport/query/query_pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string ticket(reinterpret_cast<const char*>(data), size);
  auto request = arrowport::query::ParseTicket(ticket);
  if (request.ok()) (void)request->ToSql();
  return 0;
}
