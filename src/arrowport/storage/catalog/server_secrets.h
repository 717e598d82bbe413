#pragma once

#include <string>

#include "arrow/result.h"
#include "arrowport/storage/database/connection.h"

namespace arrowport::storage {

/// \brief A secret of the server's own, generated once and kept in its database (table
/// arrowport.secrets, out of reach of every SQL caller as the request log is): the value
/// kept under `name`, `candidate` when none was kept yet (stored then). Two servers
/// starting on one database file agree: the first value stored is the one kept.
arrow::Result<std::string> KeepServerSecret(Connection* conn, const std::string& name,
                                            const std::string& candidate);

}  // namespace arrowport::storage
