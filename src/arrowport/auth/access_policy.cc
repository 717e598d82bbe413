#include "arrowport/auth/access_policy.h"

#include <algorithm>

#include "arrow/util/string.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/config/config.h"

namespace arrowport::auth {

namespace {

bool Listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A stream's name matches in any case, as its route does (DuckDB's table names ignore
// case): a user allowed "sensors" writes and sees the stream whether it says "SENSORS" or
// the configuration does.
bool ListedStream(const std::vector<std::string>& names, const std::string& name) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& listed) {
    return arrow::internal::AsciiEqualsCaseInsensitive(listed, name);
  });
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

arrow::Status AccessPolicy::RequireRole(const Principal* principal, Role role,
                                        const std::string& what) {
  if (principal == nullptr || principal->role >= role) return arrow::Status::OK();
  return PermissionDenied("user '", principal->user, "' (role ",
                          config::ToString(principal->role), ") may not ", what,
                          ": it needs role ", config::ToString(role));
}

arrow::Status AccessPolicy::ReadTable(const Principal* principal,
                                      const std::string& table) {
  if (principal == nullptr || principal->tables.empty() ||
      Listed(principal->tables, table)) {
    return arrow::Status::OK();
  }
  return PermissionDenied("user '", principal->user, "' may not read table '", table,
                          "' (allowed tables: ", JoinNames(principal->tables), ")");
}

arrow::Status AccessPolicy::ReadMetrics(const Principal* principal) {
  if (principal == nullptr || principal->IsAdmin() ||
      (principal->tables.empty() && principal->streams.empty())) {
    return arrow::Status::OK();
  }
  return PermissionDenied("user '", principal->user, "' may not read the metrics: they name "
                          "every stream, and this user is limited to some tables or streams "
                          "(scrape with a user that has no tables or streams list)");
}

bool AccessPolicy::SeesStream(const Principal* principal, const std::string& stream,
                              const std::string& target_table) {
  if (principal == nullptr || (principal->tables.empty() && principal->streams.empty())) {
    return true;
  }
  return ListedStream(principal->streams, stream) || Listed(principal->tables, target_table);
}

arrow::Status AccessPolicy::WriteStream(const Principal* principal,
                                        const std::string& stream,
                                        const std::string& table) {
  if (principal == nullptr) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(
      RequireRole(principal, Role::kWriter, "ingest into stream '" + stream + "'"));
  if (!principal->streams.empty() && !ListedStream(principal->streams, stream)) {
    return PermissionDenied("user '", principal->user, "' may not write stream '", stream,
                            "' (allowed streams: ", JoinNames(principal->streams), ")");
  }
  const bool limited = !principal->streams.empty() || !principal->tables.empty();
  const bool own_table = arrow::internal::AsciiEqualsCaseInsensitive(table, stream);
  if (limited && !table.empty() && !own_table && !ListedStream(principal->streams, table) &&
      !Listed(principal->tables, table)) {
    return PermissionDenied("user '", principal->user, "' may not write table '", table,
                            "' (not in the user's streams or tables)");
  }
  return arrow::Status::OK();
}

bool AccessPolicy::SeesRelation(const Principal* principal, const std::string& schema,
                                const std::string& table) {
  return SeesSchema(principal, schema) && ReadTable(principal, table).ok();
}

bool AccessPolicy::SeesSchema(const Principal* principal, const std::string& schema) {
  return principal == nullptr || principal->tables.empty() || schema == "main";
}

}  // namespace arrowport::auth
