#include "arrowport/common/client_principal.h"

namespace arrowport {

std::shared_ptr<const Principal> ClientPrincipal(const CallContext& call) {
  if (call.principal) return call.principal;
  auto anonymous = std::make_shared<Principal>();
  anonymous->user = "anonymous";
  anonymous->role = Role::kAdmin;
  anonymous->anonymous = true;
  return anonymous;
}

}  // namespace arrowport
