#include "arrowport/objectstore/s3_xml.h"

#include <gtest/gtest.h>

#include "arrowport/objectstore/s3_client.h"

namespace arrowport::objectstore {
namespace s3_xml_test {

TEST(S3XmlTest, ParsesAListPageWithUrlEncodedKeys) {
  const char* body = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>t%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1/abc+def==</NextContinuationToken>
  <Contents><Key>t/a+b%2Bc%25.json</Key><LastModified>2026-11-23T15:28:06.123Z</LastModified>
    <ETag>&quot;x&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>t/d%C3%ADa</Key><LastModified>2026-11-23T15:28:07Z</LastModified>
    <Size>0</Size></Contents>
</ListBucketResult>)";
  auto page = ParseListObjectsV2(body);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "1/abc+def==");
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "t/a b+c%.json");
  EXPECT_EQ(page->objects[0].size, 12);
  EXPECT_EQ(page->objects[0].modified_ms, 1795447686123);
  EXPECT_EQ(page->objects[1].key,
            "t/d\xc3\xad"
            "a");
  EXPECT_EQ(page->objects[1].modified_ms, 1795447687000);
}

TEST(S3XmlTest, RefusesOtherDocuments) {
  EXPECT_FALSE(ParseListObjectsV2("").ok());
  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>X</Code></Error>").ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                  "</ListBucketResult>")
                   .ok())
      << "truncated without a token would loop or stop early";
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key></Contents>"
                                  "</ListBucketResult>")
                   .ok())
      << "no Size";
}

TEST(S3XmlTest, ParsesErrorsAndUploadIds) {
  auto error = ParseS3Error(
      "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified "
      "bucket does not exist</Message><BucketName>b</BucketName></Error>");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "NoSuchBucket");
  EXPECT_EQ(error->message, "The specified bucket does not exist");
  EXPECT_FALSE(ParseS3Error("").has_value());
  EXPECT_FALSE(ParseS3Error("not xml <").has_value());
  EXPECT_FALSE(ParseS3Error("<CompleteMultipartUploadResult/>").has_value());

  auto id = ParseUploadId(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>abc-123"
      "</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "abc-123");
  EXPECT_FALSE(ParseUploadId("<InitiateMultipartUploadResult/>").ok());
}

TEST(S3XmlTest, BuildsRequestBodies) {
  EXPECT_EQ(
      CompleteMultipartBody({"\"e1\"", "\"e2\""}),
      "<?xml version=\"1.0\"?><CompleteMultipartUpload "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><PartNumber>1</PartNumber>"
      "<ETag>\"e1\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag>"
      "</Part></CompleteMultipartUpload>");
  EXPECT_NE(CreateBucketBody("eu-west-1").find("<LocationConstraint>eu-west-1<"),
            std::string::npos);
}

TEST(S3XmlTest, Times) {
  EXPECT_EQ(ParseIsoTimeMs("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIsoTimeMs("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(ParseIsoTimeMs("2000-02-29T12:00:00.000Z"), 951825600000);
  EXPECT_FALSE(ParseIsoTimeMs("2000-02-29 12:00:00").has_value());
  EXPECT_FALSE(ParseIsoTimeMs("yesterday").has_value());
}

TEST(S3XmlTest, Encoding) {
  EXPECT_EQ(UriEncode("a/b c+d~e_f-g.h", true), "a/b%20c%2Bd~e_f-g.h");
  EXPECT_EQ(UriEncode("a/b=c&d", false), "a%2Fb%3Dc%26d");
  EXPECT_EQ(UriEncode("d\xc3\xad"
                      "a",
                      true),
            "d%C3%ADa");
  EXPECT_EQ(UrlDecode("a+b%2Bc%zz%4"), "a b+c%zz%4");
}

}  // namespace s3_xml_test
}  // namespace arrowport::objectstore
