#include "arrowport/query/bignum_text.h"

#include <gtest/gtest.h>

#include <string>

namespace arrowport::query {
namespace bignum_text_test {

std::string Bytes(std::initializer_list<int> values) {
  std::string bytes;
  for (int value : values) bytes += static_cast<char>(value);
  return bytes;
}

// Encodings as DuckDB's Arrow export sent them (SELECT ...::BIGNUM over Flight).
TEST(BignumText, DigitsOfDuckDBsEncoding) {
  EXPECT_EQ(*BignumText(Bytes({0x80, 0x00, 0x01, 0x00})), "0");
  EXPECT_EQ(*BignumText(Bytes({0x80, 0x00, 0x0a, 0x02, 0x9d, 0x42, 0xb6, 0x4e, 0x76, 0x71,
                               0x42, 0x44, 0xcb})),
            "12345678901234567890123");
  EXPECT_EQ(*BignumText(Bytes({0x7f, 0xff, 0xf5, 0xfd, 0x62, 0xbd, 0x49, 0xb1, 0x89, 0x8e,
                               0xbd, 0xbb, 0x34})),
            "-12345678901234567890123");
  // 10^9 exactly: a group of nine zeros after the first.
  EXPECT_EQ(*BignumText(Bytes({0x80, 0x00, 0x04, 0x3b, 0x9a, 0xca, 0x00})), "1000000000");
}

TEST(BignumText, MalformedAndOversizedAreRefused) {
  EXPECT_FALSE(BignumText(Bytes({0x80, 0x00})).ok());
  EXPECT_FALSE(BignumText(Bytes({0x80, 0x00, 0x05, 0x01})).ok());  // says 5, holds 1
  std::string huge = Bytes({0x80, 0x04, 0x01});  // 1,025 bytes of magnitude
  huge.append(1025, '\x01');
  auto refused = BignumText(huge);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("cast it to VARCHAR"), std::string::npos);
  std::string largest = Bytes({0x80, 0x04, 0x00});  // 1,024 bytes: written
  largest.append(1024, '\xff');
  auto written = BignumText(largest);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(written->size(), 2467u);  // 2^8192 - 1
  EXPECT_EQ(written->back(), '5');
}

}  // namespace bignum_text_test
}  // namespace arrowport::query
