#pragma once

#include <httplib.h>

#include <cstdint>
#include <string>

#include "arrow/result.h"
#include "arrowport/common/memory_budget.h"

namespace arrowport::http {

/// Why a request body ended before it was complete, for the connection the calling thread
/// serves: RequestTimedOut (408) when its client sent nothing for http.read_timeout_s,
/// else Invalid (400: the client left, or sent a malformed body).
arrow::Status IncompleteBody();

/// \brief Reads a whole request body through cpp-httplib's ContentReader, counting the
/// bytes as they arrive after any Content-Encoding was undone, and stops reading as soon
/// as they pass `limit`: a compressed or chunked body cannot make the server buffer more
/// than `limit` bytes. Returns TooLarge (413) naming `limit_name`, or IncompleteBody()
/// when the body did not arrive whole.
/// With `charge` (a reservation of the server-wide memory budget), the body's bytes are
/// charged to it as they arrive: ResourceExhausted (503) when the budget is spent.
arrow::Result<std::string> ReadBodyLimited(const httplib::ContentReader& content, int64_t limit,
                                           const std::string& limit_name,
                                           MemoryBudget::Reservation* charge = nullptr);

}  // namespace arrowport::http
