#include "arrowport/http/negotiation.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "arrowport/common/text_util.h"

namespace arrowport::http {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

namespace {

// RFC 9110's optional white space around a header's items.
constexpr std::string_view kOptionalSpace = " \t";

bool Blank(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimmedFront(std::string_view text) {
  while (!text.empty() && Blank(text.front())) text.remove_prefix(1);
  return text;
}

}  // namespace

std::string MediaType(const std::string& header) {
  std::string type = header.substr(0, header.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  while (!type.empty() && type.front() == ' ') type.erase(0, 1);
  return Lower(type);
}

arrow::Status ReadableTransferCoding(const httplib::Headers& headers) {
  const auto [first, last] = headers.equal_range("Transfer-Encoding");
  if (first == last) return arrow::Status::OK();
  std::string written;
  for (auto it = first; it != last; ++it) written += (written.empty() ? "" : ", ") + it->second;
  if (Lower(std::string(Trimmed(written, kOptionalSpace))) == "chunked") {
    return arrow::Status::OK();
  }
  return arrow::Status::NotImplemented(
      "Transfer-Encoding '", written,
      "' is not read here: send the body chunked or with a Content-Length, and compress it "
      "with Content-Encoding: gzip or zstd");
}

arrow::Result<std::string> RequestBodyCoding(const httplib::Headers& headers) {
  std::string written;  // as the client wrote them, for the refusal
  std::vector<std::string> codings;
  const auto [first, last] = headers.equal_range("Content-Encoding");
  for (auto it = first; it != last; ++it) {
    written += (written.empty() ? "" : ", ") + it->second;
    size_t start = 0;
    while (start <= it->second.size()) {
      size_t end = it->second.find(',', start);
      if (end == std::string::npos) end = it->second.size();
      const std::string_view item(it->second.data() + start, end - start);
      std::string coding = Lower(std::string(Trimmed(item, kOptionalSpace)));
      // RFC 9110 8.4.1: "identity" is no coding, x-gzip is gzip.
      if (coding == "x-gzip") coding = "gzip";
      if (!coding.empty() && coding != "identity") codings.push_back(std::move(coding));
      start = end + 1;
    }
  }
  if (codings.empty()) return "";
  if (codings.size() > 1) {
    return arrow::Status::Invalid("Content-Encoding '", written, "' stacks ", codings.size(),
                                  " codings; a request body takes one: gzip or zstd");
  }
  if (codings[0] != "gzip" && codings[0] != "zstd") {
    return arrow::Status::Invalid("Content-Encoding '", written,
                                  "' is not decoded here; send the request body as gzip or "
                                  "zstd, or uncoded");
  }
  return codings[0];
}

arrow::Result<Negotiated> Negotiate(const httplib::Request& req) {
  static const std::vector<std::pair<std::string, Negotiated>> kTypes = {
      {kArrowStream, {query::ResultFormat::kArrowStream, kArrowStream}},
      {"application/vnd.apache.arrow.file",
       {query::ResultFormat::kArrowFile, "application/vnd.apache.arrow.file"}},
      {"application/vnd.apache.parquet",
       {query::ResultFormat::kParquet, "application/vnd.apache.parquet"}},
      {"application/x-parquet", {query::ResultFormat::kParquet, "application/vnd.apache.parquet"}},
      {"text/csv", {query::ResultFormat::kCsv, "text/csv; charset=utf-8"}},
      {"application/json", {query::ResultFormat::kJson, "application/json"}},
  };
  if (req.has_param("format")) {
    ARROW_ASSIGN_OR_RAISE(auto format, query::ParseResultFormat(req.get_param_value("format")));
    if (format == query::ResultFormat::kTable) {
      return arrow::Status::Invalid("format=table is for the CLI; use arrow, arrow-file, "
                                    "parquet, csv or json");
    }
    for (const auto& [_, negotiated] : kTypes) {
      if (negotiated.format == format) return negotiated;
    }
  }
  const std::string accept = req.get_header_value("Accept");
  if (accept.empty()) return kTypes[0].second;
  size_t start = 0;
  while (start <= accept.size()) {
    size_t end = accept.find(',', start);
    if (end == std::string::npos) end = accept.size();
    const std::string type = MediaType(accept.substr(start, end - start));
    if (type == "*/*" || type == "application/*") return kTypes[0].second;
    for (const auto& [name, negotiated] : kTypes) {
      if (type == name) return negotiated;
    }
    start = end + 1;
  }
  return arrow::Status::NotImplemented("none of the accepted media types '", accept,
                                       "' is produced here (arrow stream, arrow file, "
                                       "parquet, csv, json)");
}

namespace {

// Whether Accept-Encoding `accepted` (lower case) names `coding`; `*params` (when named):
// the text after the item's ';', if it has one.
bool Named(const std::string& accepted, std::string_view coding,
           std::optional<std::string_view>* params) {
  size_t start = 0;
  while (start < accepted.size()) {
    size_t end = accepted.find(',', start);
    if (end == std::string::npos) end = accepted.size();
    std::string_view item(accepted.data() + start, end - start);
    start = end + 1;
    const size_t semicolon = item.find(';');
    if (Trimmed(item.substr(0, semicolon), kOptionalSpace) != coding) continue;
    if (semicolon != std::string_view::npos) *params = item.substr(semicolon + 1);
    return true;
  }
  return false;
}

// True when Accept-Encoding `accepted` (lower case) offers `coding` with a q-value above
// 0 ("gzip;q=0" refuses it).
bool Offers(const std::string& accepted, std::string_view coding) {
  std::optional<std::string_view> given;
  if (!Named(accepted, coding, &given)) return false;
  if (!given) return true;
  std::string_view params = TrimmedFront(*given);
  if (params.empty() || (params.front() != 'q' && params.front() != 'Q')) return true;
  params = TrimmedFront(params.substr(1));
  if (params.empty() || params.front() != '=') return true;
  // q=0, q=0.0, q=0.000 refuse; anything else accepts (blanks around '=' tolerated).
  const std::string_view value = TrimmedFront(params.substr(1));
  bool zero = !value.empty() && value.front() == '0';
  for (size_t i = 1; zero && i < value.size() && !Blank(value[i]) && value[i] != ';'; ++i) {
    zero = value[i] == '.' || value[i] == '0';
  }
  return !zero;
}

// True when Accept-Encoding `accepted` names `coding` and refuses it ("identity;q=0").
bool Refuses(const std::string& accepted, std::string_view coding) {
  std::optional<std::string_view> params;
  return Named(accepted, coding, &params) && !Offers(accepted, coding);
}

// True when the client refuses an uncoded body: "identity;q=0", or "*;q=0" without
// identity named (RFC 9110 12.5.3).
bool RefusesIdentity(const std::string& accepted) {
  std::optional<std::string_view> params;
  if (Named(accepted, "identity", &params)) return Refuses(accepted, "identity");
  return Refuses(accepted, "*");
}

}  // namespace

bool SameHost(const httplib::Request& req) {
  std::string peer = req.remote_addr;
  // An IPv4 peer on a dual-stack socket: ::ffff:a.b.c.d.
  if (peer.rfind("::ffff:", 0) == 0 && peer.find('.') != std::string::npos) {
    peer = peer.substr(7);
  }
  in_addr v4{};
  if (::inet_pton(AF_INET, peer.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127) {
    return true;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, peer.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return !req.remote_addr.empty() && req.remote_addr == req.local_addr;
}

arrow::Compression::type ResponseCompression(const httplib::Request& req,
                                             query::ResultFormat format,
                                             CompressionRule rule) {
  // Parquet is compressed inside (zstd) already: sent as it is.
  if (format == query::ResultFormat::kParquet) return arrow::Compression::UNCOMPRESSED;
  if (rule == CompressionRule::kNever) return arrow::Compression::UNCOMPRESSED;
  const std::string accepted = Lower(req.get_header_value(kAcceptedEncodings));
  // A client that refuses identity gets what it offers, here too.
  const bool identity_refused = RefusesIdentity(accepted);
  if (rule == CompressionRule::kAuto && SameHost(req) && !identity_refused) {
    return arrow::Compression::UNCOMPRESSED;
  }
  if (Offers(accepted, "zstd")) return arrow::Compression::ZSTD;
  const bool text = format == query::ResultFormat::kCsv || format == query::ResultFormat::kJson;
  if (text && Offers(accepted, "gzip")) return arrow::Compression::GZIP;
  return arrow::Compression::UNCOMPRESSED;
}

}  // namespace arrowport::http
