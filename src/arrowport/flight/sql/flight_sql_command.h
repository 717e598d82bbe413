#pragma once

#include <string>
#include <string_view>

#include "arrow/status.h"

namespace arrowport::flight::sql {

/// The type URL prefix of every Flight SQL command, ticket and action message.
inline constexpr std::string_view kFlightSqlTypePrefix =
    "type.googleapis.com/arrow.flight.protocol.sql.";

/// \brief A Flight SQL command or ticket as the server dispatches on it: its message type
/// ("CommandStatementQuery"), read from the type URL of a serialized protobuf `Any`. A
/// call reads it once and passes it on (the checks, the deadline, the caller's rights);
/// Arrow's adapter decodes the message itself afterwards. Reads only the Any's first
/// field (no protobuf dependency); `name` views the bytes it was read from.
struct FlightSqlCommand {
  /// What `bytes` holds; an empty name when it is not a Flight SQL message (JSON, a
  /// PATH, plain SQL: those stay ours).
  static FlightSqlCommand Of(std::string_view bytes);

  /// Such descriptors and tickets go to the Flight SQL adapter.
  bool is_flight_sql() const { return !name.empty(); }

  std::string_view name;
};

/// True when `bytes` is a Flight SQL message: FlightSqlCommand::Of(bytes).is_flight_sql().
bool IsFlightSqlCommand(std::string_view bytes);

/// \brief OK when `command` names a Flight SQL command or ticket this server handles;
/// otherwise an Invalid status naming the unknown type (or saying it is no Flight SQL
/// message at all).
arrow::Status CheckFlightSqlCommand(const FlightSqlCommand& command);

/// True for the action types Flight SQL defines (prepared statements, transactions,
/// cancel, sessions).
bool IsFlightSqlAction(const std::string& type);

}  // namespace arrowport::flight::sql
