#pragma once

#include <string>
#include <string_view>

#include "arrow/status.h"

namespace arrowport::flight::sql {

/// The type URL prefix of every Flight SQL command, ticket and action message.
inline constexpr std::string_view kFlightSqlTypePrefix =
    "type.googleapis.com/arrow.flight.protocol.sql.";

/// \brief True when `bytes` is a serialized protobuf `Any` whose type URL names a Flight
/// SQL message: such descriptors and tickets go to the Flight SQL adapter; JSON, PATH and
/// plain SQL stay ours. Reads only the Any's first field (no protobuf dependency).
bool IsFlightSqlCommand(std::string_view bytes);

/// \brief OK when `bytes` (IsFlightSqlCommand) names a Flight SQL command or ticket this
/// server handles; otherwise an Invalid status naming the unknown type.
arrow::Status CheckFlightSqlCommand(std::string_view bytes);

/// The message type of a Flight SQL command or ticket ("CommandStatementQuery"); empty
/// when `bytes` is not one.
std::string_view FlightSqlCommandName(std::string_view bytes);

/// True for the action types Flight SQL defines (prepared statements, transactions,
/// cancel, sessions).
bool IsFlightSqlAction(const std::string& type);

}  // namespace arrowport::flight::sql
