#include "arrowport/query/variant_text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace arrowport::query {
namespace variant_text_test {

// Metadata of version 1 with 4-byte offsets and the given keys (sorted by the caller).
std::string Metadata(const std::vector<std::string>& keys) {
  std::string out(1, static_cast<char>(0x01 | 0x10 | (3 << 6)));
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  u32(static_cast<uint32_t>(keys.size()));
  uint32_t offset = 0;
  u32(0);
  for (const auto& key : keys) u32(offset += static_cast<uint32_t>(key.size()));
  for (const auto& key : keys) out += key;
  return out;
}

std::string U32(uint32_t v) {
  std::string out;
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

std::string Primitive(int type, const std::string& data = "") {
  return std::string(1, static_cast<char>(type << 2)) + data;
}

std::string Short(const std::string& text) {
  return std::string(1, static_cast<char>((text.size() << 2) | 1)) + text;
}

// An array or object with 4-byte counts, ids and offsets.
std::string Nested(bool object, const std::vector<uint32_t>& ids,
                   const std::vector<std::string>& values) {
  const int header = object ? (3 | (3 << 2) | (1 << 4)) : (3 | (1 << 2));
  std::string out(1, static_cast<char>((object ? 2 : 3) | (header << 2)));
  out += U32(static_cast<uint32_t>(values.size()));
  for (uint32_t id : ids) out += U32(id);
  uint32_t offset = 0;
  out += U32(0);
  for (const auto& value : values) out += U32(offset += static_cast<uint32_t>(value.size()));
  for (const auto& value : values) out += value;
  return out;
}

std::string Json(const std::string& metadata, const std::string& value) {
  std::string out;
  auto st = AppendVariantJson(metadata, value, &out);
  return st.ok() ? out : "error: " + st.message();
}

TEST(VariantTextTest, ValuesAreWrittenAsTheJsonTheyHold) {
  const auto keys = Metadata({"a", "b", "q\"uote"});
  const std::string int8 = Primitive(3, std::string(1, '\xfb'));
  const std::string object =
      Nested(true, {0, 1, 2},
             {int8, Nested(false, {}, {Primitive(1), Short("s"), Primitive(0)}),
              Short("x\ny")});
  EXPECT_EQ(Json(keys, object), R"({"a":-5,"b":[true,"s",null],"q\"uote":"x\ny"})");
  // Decimals exact, with their scale; a double as a DOUBLE column writes it.
  EXPECT_EQ(Json(keys, Primitive(8, std::string("\x02", 1) + U32(12345))), "123.45");
  EXPECT_EQ(Json(keys, Primitive(9, std::string("\x00", 1) + U32(7) + U32(0))), "7");
  std::string nan(8, '\0');
  nan[6] = '\xf8';
  nan[7] = '\x7f';
  EXPECT_EQ(Json(keys, Primitive(7, nan)), "\"nan\"");
  // Dates and timestamps as the JSON result writes such columns; UUIDs and blobs as text.
  EXPECT_EQ(Json(keys, Primitive(11, U32(19000))), "\"2022-01-08\"");
  std::string uuid = "\x12\x34\x56\x78\x12\x34\x56\x78\x12\x34\x56\x78\x12\x34\x56\x78";
  EXPECT_EQ(Json(keys, Primitive(20, uuid)), "\"12345678-1234-5678-1234-567812345678\"");
  EXPECT_EQ(Json(keys, Primitive(15, U32(2) + std::string("\x00\x41", 2))), "\"\\\\x00A\"");
  EXPECT_EQ(Json(keys, Nested(false, {}, {})), "[]");
  EXPECT_EQ(Json(Metadata({}), Nested(true, {}, {})), "{}");
}

// Narrow layouts, as writers other than this test's choose them: 1-byte ids and offsets,
// 2-byte offsets, counts of one byte (is_large clear), metadata with 1-byte offsets.
TEST(VariantTextTest, EveryWidthOfIdsOffsetsAndCountsIsRead) {
  // Keys "id", "x" with 1-byte offsets.
  const std::string keys = std::string("\x01\x02\x00\x02\x03", 5) + "idx";
  // {"id": 7 (int8), "x": [true, 2.5f]}: object with 1-byte ids and 1-byte offsets; the
  // array with 2-byte offsets.
  std::string float_2_5 = Primitive(14, std::string("\x00\x00\x20\x40", 4));
  std::string array = std::string(1, static_cast<char>(3 | (1 << 2)));  // 2-byte offsets
  array += std::string("\x02", 1);                                    // 2 elements
  array += std::string("\x00\x00\x01\x00", 4);
  array += std::string(1, static_cast<char>((1 + float_2_5.size()) & 0xff)) + std::string(1, '\0');
  array += Primitive(1) + float_2_5;
  const std::string seven = Primitive(3, "\x07");
  std::string object = std::string(1, '\x02');  // object, 1-byte ids and offsets, small
  object += std::string("\x02\x00\x01", 3);    // 2 fields: ids 0, 1
  object += std::string(1, '\0') + std::string(1, static_cast<char>(seven.size())) +
            std::string(1, static_cast<char>(seven.size() + array.size()));
  object += seven + array;
  EXPECT_EQ(Json(keys, object), R"({"id":7,"x":[true,2.5]})");
  // A time of day, timestamps without and with a time zone, a float's NaN, a negative
  // decimal, and an exponent-form one.
  EXPECT_EQ(Json(keys, Primitive(17, U32(5) + U32(0))), "\"00:00:00.000005\"");
  EXPECT_EQ(Json(keys, Primitive(13, U32(0) + U32(0))), "\"1970-01-01 00:00:00.000000\"");
  EXPECT_EQ(Json(keys, Primitive(12, U32(0) + U32(0))), "\"1970-01-01 00:00:00.000000Z\"");
  EXPECT_EQ(Json(keys, Primitive(14, std::string("\x00\x00\xc0\x7f", 4))), "\"nan\"");
  EXPECT_EQ(Json(keys, Primitive(8, std::string("\x03", 1) + U32(static_cast<uint32_t>(-1500)))),
            "-1.500");
  // A child whose offset lies past its container's values (the last offset) is refused,
  // though bytes follow.
  std::string past = std::string(1, static_cast<char>(3)) + "\x01" + "\x00" + "\x01" +
                     Primitive(0) + Primitive(1);
  past[3] = '\x01';  // the values end after 1 byte
  past[2] = '\x01';  // yet the child starts at 1
  EXPECT_NE(Json(keys, past).find("past its bytes"), std::string::npos);
}

TEST(VariantTextTest, MalformedBytesAreRefusedNotRead) {
  const auto keys = Metadata({"a"});
  // A count of 2^28 elements in 6 bytes, a field id past the dictionary, a short string
  // and a long one past their bytes, an unknown primitive, text that is not UTF-8, and a
  // metadata of another version.
  EXPECT_NE(Json(keys, std::string("\x1f\x00\x00\x00\x10", 5)).find("more elements"),
            std::string::npos);
  EXPECT_NE(Json(keys, Nested(true, {7}, {Primitive(0)})).find("field id"), std::string::npos);
  EXPECT_NE(Json(keys, std::string(1, static_cast<char>((10 << 2) | 1)) + "abc").find("short"),
            std::string::npos);
  EXPECT_NE(Json(keys, Primitive(16, U32(1000) + "ab")).find("past its bytes"),
            std::string::npos);
  EXPECT_NE(Json(keys, Primitive(21)).find("unknown primitive"), std::string::npos);
  EXPECT_NE(Json(keys, Short("\xff\xfe")).find("UTF-8"), std::string::npos);
  EXPECT_NE(Json(std::string("\x02\x00\x00", 3), Primitive(0)).find("version"),
            std::string::npos);
  EXPECT_NE(Json(keys, "").find("past its bytes"), std::string::npos);
  // An offset pointing past the values.
  std::string past = Nested(false, {}, {Primitive(0)});
  past[6] = '\x40';  // the first offset
  EXPECT_NE(Json(keys, past).find("past its bytes"), std::string::npos);
}

TEST(VariantTextTest, NestingAndTextAreBounded) {
  const auto keys = Metadata({});
  std::string deep = Primitive(3, "\x2a");
  for (int i = 0; i < 256; ++i) deep = Nested(false, {}, {deep});
  EXPECT_EQ(Json(keys, deep).substr(0, 3), "[[[");
  EXPECT_NE(Json(keys, Nested(false, {}, {deep})).find("256 levels"), std::string::npos);
  // A 1 MiB key named by 20 objects: 2 MB of data, 20 MB of text.
  const auto big = Metadata({std::string(1 << 20, 'k')});
  std::vector<std::string> objects(20, Nested(true, {0}, {Primitive(0)}));
  EXPECT_NE(Json(big, Nested(false, {}, objects)).find("16 MiB"), std::string::npos);
}

}  // namespace variant_text_test
}  // namespace arrowport::query
