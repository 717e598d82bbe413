#pragma once

#include <httplib.h>

#include <cstdint>
#include <string>

#include "arrow/result.h"
#include "arrowport/common/memory_budget.h"

namespace arrowport::http {

/// \brief Reads a whole request body through cpp-httplib's ContentReader, counting the
/// bytes as they arrive after any Content-Encoding was undone, and stops reading as soon
/// as they pass `limit`: a compressed or chunked body cannot make the server buffer more
/// than `limit` bytes. Returns TooLarge (413) naming `limit_name`, or IOError when the
/// client left before the body was complete.
/// With `charge` (a reservation of the server-wide memory budget), the body's bytes are
/// charged to it as they arrive: ResourceExhausted (503) when the budget is spent.
arrow::Result<std::string> ReadBodyLimited(const httplib::ContentReader& content, int64_t limit,
                                           const std::string& limit_name,
                                           MemoryBudget::Reservation* charge = nullptr);

}  // namespace arrowport::http
