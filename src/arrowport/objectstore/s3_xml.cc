#include "arrowport/objectstore/s3_xml.h"

#include <pugixml.hpp>

#include <charconv>
#include <ctime>
#include <sstream>

namespace arrowport::objectstore {

namespace {

bool Load(std::string_view body, pugi::xml_document* document) {
  return !body.empty() && document->load_buffer(body.data(), body.size(),
                                                pugi::parse_default, pugi::encoding_utf8);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

std::string Snippet(std::string_view body) {
  std::string text(body.substr(0, 200));
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

std::optional<S3Error> ParseS3Error(std::string_view body) {
  pugi::xml_document document;
  if (!Load(body, &document)) return std::nullopt;
  const pugi::xml_node error = document.child("Error");
  if (!error) return std::nullopt;
  return S3Error{error.child_value("Code"), error.child_value("Message")};
}

arrow::Result<S3ListPage> ParseListObjectsV2(std::string_view body) {
  pugi::xml_document document;
  const pugi::xml_node result =
      Load(body, &document) ? document.child("ListBucketResult") : pugi::xml_node();
  if (!result) {
    return arrow::Status::IOError(
        "S3 ListObjectsV2 answered with an unexpected document: ", Snippet(body));
  }
  const bool url_encoded = std::string_view(result.child_value("EncodingType")) == "url";
  S3ListPage page;
  page.truncated = std::string_view(result.child_value("IsTruncated")) == "true";
  page.next_continuation_token = result.child_value("NextContinuationToken");
  for (pugi::xml_node item : result.children("Contents")) {
    ObjectInfo info;
    const std::string_view key = item.child_value("Key");
    info.key = url_encoded ? UrlDecode(key) : std::string(key);
    if (!ParseNumber(std::string_view(item.child_value("Size")), &info.size)) {
      return arrow::Status::IOError("S3 ListObjectsV2: object '", info.key,
                                    "' has no valid Size");
    }
    info.modified_ms = ParseIsoTimeMs(item.child_value("LastModified")).value_or(0);
    page.objects.push_back(std::move(info));
  }
  if (page.truncated && page.next_continuation_token.empty()) {
    return arrow::Status::IOError(
        "S3 ListObjectsV2: a truncated page without a NextContinuationToken");
  }
  return page;
}

arrow::Result<std::string> ParseUploadId(std::string_view body) {
  pugi::xml_document document;
  const pugi::xml_node result = Load(body, &document)
                                    ? document.child("InitiateMultipartUploadResult")
                                    : pugi::xml_node();
  const std::string upload_id = result ? result.child_value("UploadId") : "";
  if (upload_id.empty()) {
    return arrow::Status::IOError(
        "S3 CreateMultipartUpload answered without an UploadId: ", Snippet(body));
  }
  return upload_id;
}

std::string CompleteMultipartBody(const std::vector<std::string>& etags) {
  pugi::xml_document document;
  pugi::xml_node root = document.append_child("CompleteMultipartUpload");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  for (size_t i = 0; i < etags.size(); ++i) {
    pugi::xml_node part = root.append_child("Part");
    part.append_child("PartNumber").text().set(static_cast<unsigned long long>(i + 1));
    part.append_child("ETag").text().set(etags[i].c_str());
  }
  std::ostringstream out;
  document.save(out, "", pugi::format_raw);
  return out.str();
}

std::string CreateBucketBody(const std::string& region) {
  pugi::xml_document document;
  pugi::xml_node root = document.append_child("CreateBucketConfiguration");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  root.append_child("LocationConstraint").text().set(region.c_str());
  std::ostringstream out;
  document.save(out, "", pugi::format_raw);
  return out.str();
}

std::optional<int64_t> ParseIsoTimeMs(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text.back() != 'Z') {
    return std::nullopt;
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ParseNumber(text.substr(0, 4), &year) || !ParseNumber(text.substr(5, 2), &month) ||
      !ParseNumber(text.substr(8, 2), &day) || !ParseNumber(text.substr(11, 2), &hour) ||
      !ParseNumber(text.substr(14, 2), &minute) ||
      !ParseNumber(text.substr(17, 2), &second)) {
    return std::nullopt;
  }
  int64_t millis = 0;
  std::string_view fraction = text.substr(19, text.size() - 20);
  if (!fraction.empty()) {
    if (fraction.front() != '.') return std::nullopt;
    fraction = fraction.substr(1, 3);
    if (!ParseNumber(fraction, &millis)) return std::nullopt;
    for (size_t i = fraction.size(); i < 3; ++i) millis *= 10;
  }
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const time_t seconds = ::timegm(&parts);
  return int64_t{seconds} * 1000 + millis;
}

std::string UrlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
               HexValue(text[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace arrowport::objectstore
