#pragma once

#include <string>
#include <vector>

namespace arrowport {

/// What an authenticated caller may do (design section 7). Ordered: each role has the
/// rights of the ones before it.
enum class Role { kReader = 0, kWriter = 1, kAdmin = 2 };

/// \brief Who is calling, as the authentication layer established it. Protocol adapters
/// put it in the CallContext; pipelines and storage read it to decide what is allowed.
/// Immutable once made.
struct Principal {
  std::string user;  ///< the configured user name ("anonymous" when auth is off)
  Role role = Role::kReader;
  /// Non-empty: the only tables (resp. streams) this user may read (resp. write).
  std::vector<std::string> tables;
  std::vector<std::string> streams;
  /// True when authentication is off (loopback bind, or auth.enabled: false): the caller
  /// is unauthenticated and has admin rights, as before authentication existed.
  bool anonymous = false;

  bool CanRead() const { return true; }
  bool CanWrite() const { return role >= Role::kWriter; }
  bool IsAdmin() const { return role == Role::kAdmin; }
};

}  // namespace arrowport
