#pragma once

#include <memory>
#include <string>

#include "arrowport/common/call_cancellation.h"

namespace arrowport {

/// \brief What the pipelines know about the call they serve, whatever protocol carried
/// it. Protocol adapters fill it; the storage layer uses `cancellation` to interrupt
/// DuckDB when the client leaves. (The security work adds the caller's identity here.)
struct CallContext {
  std::string protocol;  ///< "flight", "http", ...
  std::shared_ptr<CallCancellation> cancellation;  ///< may be null: not cancellable
};

}  // namespace arrowport
