#pragma once

#include <string>

#include "arrowport/storage/database/database.h"

namespace arrowport::storage {

/// "ok", "disk_full" (writes refused, reads go on), "file_gone" (the database's file was
/// deleted or replaced while the server ran: writes refused until a restart, reads go on)
/// or "reopening" (DuckDB invalidated the database: calls are refused until it is open
/// again).
const char* StorageState(const StorageHealth& health);

/// \brief The storage's state as one JSON object, the same in /healthz, /readyz, the
/// `health` action and the status page: {"state", "writes", "summary", "disk": {...},
/// "checkpoint_deferred", "reopens", "last_reopen": {"at", "after"}, "reopening": {...}}.
/// `with_details` false (callers who may not see the server's files): no paths, and
/// DuckDB's errors (which name files) left out.
std::string StorageHealthJson(const StorageHealth& health, bool with_details);

}  // namespace arrowport::storage
