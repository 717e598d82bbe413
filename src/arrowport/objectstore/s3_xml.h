#pragma once

// Internal to objectstore: the XML documents of the S3 API (pugixml stays in s3_xml.cc).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arrow/result.h"
#include "arrowport/objectstore/object_store.h"

namespace arrowport::objectstore {

/// S3's <Error><Code>…</Code><Message>…</Message></Error>.
struct S3Error {
  std::string code;
  std::string message;
};

/// The error document in `body`, or nullopt (no body, not XML, another document).
std::optional<S3Error> ParseS3Error(std::string_view body);

/// One page of ListObjectsV2 (requested with encoding-type=url: keys are decoded here).
struct S3ListPage {
  std::vector<ObjectInfo> objects;  ///< full keys, in S3's order
  bool truncated = false;
  std::string next_continuation_token;
};

arrow::Result<S3ListPage> ParseListObjectsV2(std::string_view body);

/// The UploadId of an InitiateMultipartUploadResult.
arrow::Result<std::string> ParseUploadId(std::string_view body);

/// The CompleteMultipartUpload request body for parts 1..N with these ETags.
std::string CompleteMultipartBody(const std::vector<std::string>& etags);

/// The CreateBucketConfiguration body naming `region`.
std::string CreateBucketBody(const std::string& region);

/// "2026-11-23T15:28:06.123Z" as milliseconds since the epoch; nullopt if malformed.
std::optional<int64_t> ParseIsoTimeMs(std::string_view text);

/// Decodes encoding-type=url text: %XX escapes, and '+' as a space (as S3 writes it).
std::string UrlDecode(std::string_view text);

}  // namespace arrowport::objectstore
