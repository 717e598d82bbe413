#pragma once

#include <httplib.h>

#include <string>

#include "arrow/result.h"
#include "arrow/util/compression.h"
#include "arrowport/http/http_gateway_deps.h"
#include "arrowport/query/result_writer.h"

namespace arrowport::http {

constexpr const char* kArrowStream = "application/vnd.apache.arrow.stream";

// The client's Accept-Encoding, moved here before routing so that cpp-httplib does not
// compress text bodies itself: it would pick brotli at its slowest level whenever "br" is
// offered (browsers, curl --compressed, requests with brotli installed), 38 s instead of
// 0.2 s for a 1M-row CSV, and compress even tiny JSON replies.
constexpr const char* kAcceptedEncodings = "X-Arrowport-Accept-Encoding";

// A request body's Content-Encoding ("gzip" or "zstd", as RequestBodyCoding settled it),
// moved here before routing so that cpp-httplib hands the handler the bytes as they came
// and the server undoes the coding itself (ReadBody): httplib's gzip decoder took a
// stream cut short, trailer missing, for a whole one (half an upload committed with 200).
constexpr const char* kBodyCoding = "X-Arrowport-Content-Encoding";

/// Lower-cased copy of `s`.
std::string Lower(std::string s);

/// Media type without parameters, lower-cased: "Text/CSV; charset=x" -> "text/csv".
std::string MediaType(const std::string& header);

/// \brief OK when a request's body is framed as the server reads it: no
/// Transfer-Encoding, or "chunked" alone. NotImplemented naming the fix for any other
/// ("gzip, chunked", which httplib would read as no body); the gateway answers it 501.
arrow::Status ReadableTransferCoding(const httplib::Headers& headers);

/// \brief The coding of a request body, from all its Content-Encoding headers (comma
/// lists included), trimmed and lower-cased: "" for none, else "gzip" or "zstd", the
/// codings the server decodes (those it sends; brotli, deflate and compress are not
/// among them). Invalid naming the codings it takes for any other coding, and for
/// codings stacked ("gzip, zstd", or two headers): the gateway answers it 415.
arrow::Result<std::string> RequestBodyCoding(const httplib::Headers& headers);

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
///
/// Under CompressionRule::kAuto a client on this host (SameHost) gets no compression:
/// its link is memory, faster than any compressor, so compressing only spends both ends'
/// CPU (a default Python 3.14 `requests` GET offers zstd and took 1.59x identity's time on
/// loopback). A client elsewhere gets it: the compressor (zstd level 3, hundreds of MB/s
/// per core) outruns any link up to several Gbit/s (docs/http.md).
arrow::Compression::type ResponseCompression(const httplib::Request& req,
                                             query::ResultFormat format,
                                             CompressionRule rule);

/// True when the request's peer is this host: a loopback address, or the very address
/// it connected to (a client here dialling one of the host's own addresses).
bool SameHost(const httplib::Request& req);

}  // namespace arrowport::http
