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
  // The server reads every descriptor's and ticket's type once and checks what it read
  // (flight_service.cc); Check must also answer for what is no Flight SQL message.
  (void)sql::CheckFlightSqlCommand(sql::FlightSqlCommand::Of(bytes));
  (void)sql::IsFlightSqlAction(std::string(bytes));
  return 0;
}
