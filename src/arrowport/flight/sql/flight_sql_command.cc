#include "arrowport/flight/sql/flight_sql_command.h"

#include <array>
#include <cstdint>

namespace arrowport::flight::sql {

namespace {

// The type URL of a serialized google.protobuf.Any: field 1 is length-delimited (tag byte
// 0x0A, a varint length, the URL). Empty when `bytes` does not start that way.
std::string_view TypeUrl(std::string_view bytes) {
  if (bytes.size() < 2 || static_cast<uint8_t>(bytes[0]) != 0x0A) return {};
  uint64_t length = 0;
  size_t pos = 1;
  for (int shift = 0; pos < bytes.size() && shift < 35; shift += 7) {
    const auto byte = static_cast<uint8_t>(bytes[pos++]);
    length |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      if (length > bytes.size() - pos) return {};
      return bytes.substr(pos, length);
    }
  }
  return {};
}

}  // namespace

FlightSqlCommand FlightSqlCommand::Of(std::string_view bytes) {
  const std::string_view url = TypeUrl(bytes);
  if (url.size() <= kFlightSqlTypePrefix.size() ||
      url.substr(0, kFlightSqlTypePrefix.size()) != kFlightSqlTypePrefix) {
    return {};
  }
  return {url.substr(kFlightSqlTypePrefix.size())};
}

bool IsFlightSqlCommand(std::string_view bytes) {
  return FlightSqlCommand::Of(bytes).is_flight_sql();
}

arrow::Status CheckFlightSqlCommand(const FlightSqlCommand& command) {
  static const std::array<const char*, 17> kKnown = {
      "CommandStatementQuery",   "CommandStatementSubstraitPlan",
      "CommandPreparedStatementQuery", "CommandGetCatalogs", "CommandGetDbSchemas",
      "CommandGetTables",        "CommandGetTableTypes", "CommandGetXdbcTypeInfo",
      "CommandGetSqlInfo",       "CommandGetPrimaryKeys", "CommandGetExportedKeys",
      "CommandGetImportedKeys",  "CommandGetCrossReference", "CommandStatementUpdate",
      "CommandPreparedStatementUpdate", "CommandStatementIngest", "TicketStatementQuery"};
  if (!command.is_flight_sql()) {
    return arrow::Status::Invalid("not a Flight SQL message (a protobuf Any whose type URL "
                                  "starts with '", kFlightSqlTypePrefix, "')");
  }
  for (const char* known : kKnown) {
    if (command.name == known) return arrow::Status::OK();
  }
  return arrow::Status::Invalid("unknown Flight SQL message type 'arrow.flight.protocol.sql.",
                                command.name,
                                "' (this server knows the Flight SQL 13+ commands)");
}

bool IsFlightSqlAction(const std::string& type) {
  static const std::array<const char*, 13> kActions = {
      "BeginSavepoint",   "BeginTransaction",  "CancelQuery",
      "CreatePreparedStatement", "CreatePreparedSubstraitPlan",
      "ClosePreparedStatement",  "EndSavepoint",  "EndTransaction",
      "CancelFlightInfo", "RenewFlightEndpoint", "SetSessionOptions",
      "GetSessionOptions", "CloseSession"};
  for (const char* known : kActions) {
    if (type == known) return true;
  }
  return false;
}

}  // namespace arrowport::flight::sql
