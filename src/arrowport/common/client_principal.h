#pragma once

#include <memory>

#include "arrowport/common/call_context.h"

namespace arrowport {

/// \brief Who a client's SQL runs as: the call's principal or, when the adapter set none
/// (authentication off or not wired for that surface), the anonymous admin. SQL that a
/// client sent is always judged by the SQL sandbox; only the server's own SQL runs
/// with no principal at all.
std::shared_ptr<const Principal> ClientPrincipal(const CallContext& call);

}  // namespace arrowport
