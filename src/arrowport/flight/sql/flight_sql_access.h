#pragma once

#include "arrow/status.h"
#include "arrowport/common/principal.h"
#include "arrowport/flight/sql/flight_sql_command.h"

namespace arrowport::flight::sql {

/// \brief What a Flight SQL command needs, judged from its message type at the protocol
/// level (storage checks the statement itself again): updates (CommandStatementUpdate,
/// prepared updates, Substrait plans sent with DoPut) need admin; bulk ingest needs
/// writer (its table is checked by the ingest handler); queries, prepared statements
/// and catalog metadata need any role (the SQL sandbox judges the SQL itself). Actions
/// (prepare, close, transactions, cancel, sessions) need any role too.
/// `put`: the command arrived with DoPut. OK for a null principal.
arrow::Status CheckCommandAccess(const Principal* principal,
                                 const FlightSqlCommand& command, bool put);

}  // namespace arrowport::flight::sql
