#pragma once

#include <httplib.h>

#include <string>

#include "arrow/result.h"
#include "arrow/util/compression.h"
#include "arrowport/query/result_writer.h"

namespace arrowport::http {

constexpr const char* kArrowStream = "application/vnd.apache.arrow.stream";

// The client's Accept-Encoding, moved here before routing so that cpp-httplib does not
// compress text bodies itself: it would pick brotli at its slowest level whenever "br" is
// offered (browsers, curl --compressed, requests with brotli installed), 38 s instead of
// 0.2 s for a 1M-row CSV, and compress even tiny JSON replies.
constexpr const char* kAcceptedEncodings = "X-Arrowport-Accept-Encoding";

/// Lower-cased copy of `s`.
std::string Lower(std::string s);

/// Media type without parameters, lower-cased: "Text/CSV; charset=x" -> "text/csv".
std::string MediaType(const std::string& header);

/// Output (format, Content-Type) from ?format= or Accept; Arrow IPC stream by default.
struct Negotiated {
  query::ResultFormat format;
  std::string content_type;
};

/// The result format a request asks for; NotImplemented (406) when none is produced.
arrow::Result<Negotiated> Negotiate(const httplib::Request& req);

/// \brief Response body compression for a body in `format`, from Accept-Encoding: zstd
/// whenever it is offered (fast enough to pay), whatever the q-values' order; gzip for
/// text (CSV, JSON) only. Arrow bodies go as they are when only gzip is offered: Python's
/// requests offers "gzip, deflate" unasked, and gzip ran 3x slower than identity on an
/// Arrow stream. Parquet, compressed inside already, never. "coding;q=0" refuses a
/// coding; "*" is not read as an offer.
arrow::Compression::type ResponseCompression(const httplib::Request& req,
                                             query::ResultFormat format);

}  // namespace arrowport::http
