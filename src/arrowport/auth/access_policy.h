#pragma once

#include <string>

#include "arrow/status.h"
#include "arrowport/common/principal.h"

namespace arrowport::auth {

/// \brief What each role may do (design section 7), decided in one place for every
/// protocol. Each check answers OK or a PermissionDenied status naming the user, what was
/// refused and why. A null principal is the server itself (tests, maintenance): allowed.
class AccessPolicy {
 public:
  /// `role` or more; `what` names the operation ("action checkpoint").
  static arrow::Status RequireRole(const Principal* principal, Role role,
                                   const std::string& what);

  /// Reading table/view `table` by name: any role, within the user's `tables` list. (SQL
  /// that reads is open to every role: the SQL sandbox,
  /// storage/sandbox/statement_guard.h, holds a table-limited user to its tables.)
  static arrow::Status ReadTable(const Principal* principal, const std::string& table);

  /// Ingesting into `stream` (writer), optionally to an explicit target `table`: the
  /// stream must be in the user's `streams` list when there is one, and an explicit
  /// table other than the stream's name must be in the user's `streams` or `tables` list
  /// when either exists (else a listed stream could be pointed at any table).
  static arrow::Status WriteStream(const Principal* principal, const std::string& stream,
                                   const std::string& table);

  /// Reading the metrics (GET /metrics): any role, but not a user limited to tables or
  /// streams, since every series is labelled with its stream (admins excepted).
  static arrow::Status ReadMetrics(const Principal* principal);

  /// Whether a stream's routing and counters are shown to the user (list_streams,
  /// GET /streams, the status report): to everyone but a user limited to some tables or
  /// streams, who sees the streams it may write and those that land in its tables.
  static bool SeesStream(const Principal* principal, const std::string& stream,
                         const std::string& target_table);

  /// Whether catalog listings (Flight SQL's tables, keys and schemas) show a relation or
  /// a schema to the user: everything to everyone but a user limited to a tables list, who
  /// sees those tables of schema main (as list_flights and GET /tables show them) and, of
  /// the schemas, main.
  static bool SeesRelation(const Principal* principal, const std::string& schema,
                           const std::string& table);
  static bool SeesSchema(const Principal* principal, const std::string& schema);
};

}  // namespace arrowport::auth
