#pragma once

#include <string>
#include <string_view>

#include "arrow/status.h"
#include "arrowport/common/principal.h"

namespace arrowport::flight::sql {

/// \brief What a Flight SQL command needs, judged from its message type at the protocol
/// level (storage checks the statement itself again): updates (CommandStatementUpdate,
/// prepared updates, Substrait plans sent with DoPut) need admin; bulk ingest needs
/// writer (its table is checked by the ingest handler); statements and prepared
/// statements are free SQL (AccessPolicy::ReadSql); catalog metadata needs any role.
/// `put`: the command arrived with DoPut. OK for a null principal.
arrow::Status CheckCommandAccess(const Principal* principal, std::string_view command,
                                 bool put);

/// The same for Flight SQL actions: creating a prepared statement is free SQL; closing,
/// transactions, cancel and sessions need any role.
arrow::Status CheckActionAccess(const Principal* principal, const std::string& action);

}  // namespace arrowport::flight::sql
