// Flight SQL commands and tickets: a serialized protobuf Any, told apart from our own JSON
// and SQL descriptors by its type URL, then checked against the commands we handle.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "arrowport/flight/sql/flight_sql_command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  namespace sql = arrowport::flight::sql;
  // The server checks every descriptor and ticket this way (flight_service.cc); Check is
  // also called on its own to make sure it never trusts the caller to have asked first.
  if (sql::IsFlightSqlCommand(bytes)) (void)sql::CheckFlightSqlCommand(bytes);
  (void)sql::CheckFlightSqlCommand(bytes);
  (void)sql::IsFlightSqlAction(std::string(bytes));
  return 0;
}
