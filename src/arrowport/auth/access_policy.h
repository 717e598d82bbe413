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

  /// Reading table/view `table` by name: any role, within the user's `tables` list.
  static arrow::Status ReadTable(const Principal* principal, const std::string& table);

  /// Running free SQL that reads (queries, prepared statements): any role, but not for a
  /// user limited to a `tables` list, since SQL can name any table.
  static arrow::Status ReadSql(const Principal* principal);

  /// Ingesting into `stream` (writer), optionally to an explicit target `table`: the
  /// stream must be in the user's `streams` list when there is one, and an explicit
  /// table other than the stream's name must be in the user's `streams` or `tables` list
  /// when either exists (else a listed stream could be pointed at any table).
  static arrow::Status WriteStream(const Principal* principal, const std::string& stream,
                                   const std::string& table);
};

}  // namespace arrowport::auth
