#include "arrowport/http/negotiation.h"

#include <gtest/gtest.h>

namespace arrowport::http {
namespace negotiation_test {

using query::ResultFormat;

httplib::Request RequestFrom(const std::string& peer, const std::string& local,
                             const std::string& offered) {
  httplib::Request req;
  req.remote_addr = peer;
  req.local_addr = local;
  req.set_header(kAcceptedEncodings, offered);
  return req;
}

TEST(SameHostTest, LoopbackAndTheAddressItDialledAreThisHost) {
  EXPECT_TRUE(SameHost(RequestFrom("127.0.0.1", "127.0.0.1", "")));
  EXPECT_TRUE(SameHost(RequestFrom("127.8.9.10", "127.0.0.1", "")));
  EXPECT_TRUE(SameHost(RequestFrom("::1", "::1", "")));
  EXPECT_TRUE(SameHost(RequestFrom("::ffff:127.0.0.1", "::ffff:127.0.0.1", "")));
  EXPECT_TRUE(SameHost(RequestFrom("10.1.2.3", "10.1.2.3", "")));
  EXPECT_FALSE(SameHost(RequestFrom("10.1.2.4", "10.1.2.3", "")));
  EXPECT_FALSE(SameHost(RequestFrom("128.0.0.1", "10.1.2.3", "")));
  EXPECT_FALSE(SameHost(RequestFrom("::ffff:10.0.0.2", "::ffff:10.0.0.1", "")));
  EXPECT_FALSE(SameHost(RequestFrom("fe80::1", "fe80::2", "")));
  EXPECT_FALSE(SameHost(RequestFrom("", "", "")));
}

TEST(ResponseCompressionTest, AutoSparesThisHostAndCompressesForOthers) {
  const char* python314 = "gzip, deflate, zstd";  // requests' default on Python 3.14
  auto here = RequestFrom("127.0.0.1", "127.0.0.1", python314);
  auto elsewhere = RequestFrom("10.0.0.2", "10.0.0.1", python314);
  EXPECT_EQ(ResponseCompression(here, ResultFormat::kArrowStream, CompressionRule::kAuto),
            arrow::Compression::UNCOMPRESSED);
  EXPECT_EQ(ResponseCompression(here, ResultFormat::kCsv, CompressionRule::kAuto),
            arrow::Compression::UNCOMPRESSED);
  EXPECT_EQ(ResponseCompression(elsewhere, ResultFormat::kArrowStream, CompressionRule::kAuto),
            arrow::Compression::ZSTD);
  EXPECT_EQ(ResponseCompression(here, ResultFormat::kArrowStream, CompressionRule::kAlways),
            arrow::Compression::ZSTD);
  EXPECT_EQ(ResponseCompression(elsewhere, ResultFormat::kJson, CompressionRule::kNever),
            arrow::Compression::UNCOMPRESSED);
  // Only what the client offers, whatever the rule.
  auto gzip_only = RequestFrom("10.0.0.2", "10.0.0.1", "gzip, deflate");
  EXPECT_EQ(ResponseCompression(gzip_only, ResultFormat::kArrowStream, CompressionRule::kAlways),
            arrow::Compression::UNCOMPRESSED);
  EXPECT_EQ(ResponseCompression(gzip_only, ResultFormat::kCsv, CompressionRule::kAuto),
            arrow::Compression::GZIP);
  EXPECT_EQ(ResponseCompression(elsewhere, ResultFormat::kParquet, CompressionRule::kAlways),
            arrow::Compression::UNCOMPRESSED);
  // Found by a hostile run: a client here that refuses identity gets what it offers.
  auto no_identity = RequestFrom("127.0.0.1", "127.0.0.1", "zstd, identity;q=0");
  EXPECT_EQ(ResponseCompression(no_identity, ResultFormat::kArrowStream, CompressionRule::kAuto),
            arrow::Compression::ZSTD);
  auto nothing_else = RequestFrom("127.0.0.1", "127.0.0.1", "zstd, *;q=0");
  EXPECT_EQ(ResponseCompression(nothing_else, ResultFormat::kArrowStream,
                                CompressionRule::kAuto),
            arrow::Compression::ZSTD);
  auto identity_named = RequestFrom("127.0.0.1", "127.0.0.1", "zstd, identity, *;q=0");
  EXPECT_EQ(ResponseCompression(identity_named, ResultFormat::kArrowStream,
                                CompressionRule::kAuto),
            arrow::Compression::UNCOMPRESSED);
  auto identity_fine = RequestFrom("127.0.0.1", "127.0.0.1", "zstd, identity;q=0.5");
  EXPECT_EQ(ResponseCompression(identity_fine, ResultFormat::kArrowStream,
                                CompressionRule::kAuto),
            arrow::Compression::UNCOMPRESSED);
}

// Found by a hostile client: unknown and stacked codings were read as a hang-up (400).
TEST(RequestBodyCodingTest, OneCodingTheServerDecodesOrNone) {
  auto coding_of = [](std::vector<std::string> values) {
    httplib::Headers headers;
    for (auto& value : values) headers.emplace("Content-Encoding", std::move(value));
    return RequestBodyCoding(headers);
  };
  EXPECT_EQ(coding_of({}).ValueOrDie(), "");
  EXPECT_EQ(coding_of({" "}).ValueOrDie(), "");
  EXPECT_EQ(coding_of({"gzip"}).ValueOrDie(), "gzip");
  EXPECT_EQ(coding_of({" ZStd\t"}).ValueOrDie(), "zstd");
  // RFC 9110 8.4.1: identity is no coding, x-gzip is gzip.
  EXPECT_EQ(coding_of({"identity"}).ValueOrDie(), "");
  EXPECT_EQ(coding_of({"x-gzip"}).ValueOrDie(), "gzip");
  EXPECT_EQ(coding_of({"identity", "zstd"}).ValueOrDie(), "zstd");
  for (auto refused : std::vector<std::vector<std::string>>{
           {"compress"}, {"foo"}, {"br"}, {"deflate"}, {"gzip, zstd"},
           {"gzip", "zstd"}, {"zstd,zstd"}, {"x-gzip, gzip"}}) {
    auto coding = coding_of(refused);
    ASSERT_FALSE(coding.ok()) << refused[0];
    EXPECT_NE(coding.status().message().find("gzip or zstd"), std::string::npos)
        << coding.status();
    EXPECT_NE(coding.status().message().find(refused[0]), std::string::npos) << coding.status();
  }
}

}  // namespace negotiation_test
}  // namespace arrowport::http
