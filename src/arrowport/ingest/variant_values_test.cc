#include "arrowport/ingest/variant_values.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "arrow/api.h"
#include "arrow/util/key_value_metadata.h"
#include "arrow/util/string.h"

namespace arrowport::ingest {
namespace variant_values_test {

std::string Bytes(std::initializer_list<int> values) {
  std::string bytes;
  for (int value : values) bytes += static_cast<char>(value);
  return bytes;
}

// Version 1, no field names; and one field name, "a".
const std::string kNoNames = Bytes({0x01, 0x00, 0x00});
const std::string kNameA = Bytes({0x01, 0x01, 0x00, 0x01, 'a'});

std::shared_ptr<arrow::Field> VariantField(const std::string& name = "v") {
  auto storage = arrow::struct_({arrow::field("metadata", arrow::binary(), false),
                                 arrow::field("value", arrow::binary())});
  return arrow::field(name, storage, true,
                      arrow::key_value_metadata({"ARROW:extension:name"},
                                                {"arrow.parquet.variant"}));
}

std::shared_ptr<arrow::Array> Variants(const std::vector<std::string>& metadata,
                                       const std::vector<std::string>& values) {
  arrow::BinaryBuilder m, v;
  EXPECT_TRUE(m.AppendValues(metadata).ok());
  EXPECT_TRUE(v.AppendValues(values).ok());
  auto metadata_array = m.Finish().ValueOrDie();
  auto value_array = v.Finish().ValueOrDie();
  const auto storage = VariantField()->type();
  return arrow::StructArray::Make({metadata_array, value_array}, storage->fields())
      .ValueOrDie();
}

arrow::Status Check(const std::string& metadata, const std::string& value) {
  return CheckVariantValues(*VariantField(), *Variants({metadata}, {value})->data());
}

// An array of `depth` arrays, one in another, around the int8 1.
std::string Nested(int depth) {
  std::string value = Bytes({0x0C, 0x01});
  for (int i = 0; i < depth; ++i) {
    // basic type 3 (array), offsets of 4 bytes, 1 element: offsets 0 and its size.
    const auto size = static_cast<uint32_t>(value.size());
    value = Bytes({0x0F, 0x01, 0, 0, 0, 0, static_cast<int>(size & 0xFF),
                   static_cast<int>((size >> 8) & 0xFF), static_cast<int>(size >> 16), 0}) +
            value;
  }
  return value;
}

TEST(VariantValues, WellFormedValuesPass) {
  EXPECT_TRUE(Check(kNoNames, Bytes({0x0C, 42})).ok());                   // int8 42
  EXPECT_TRUE(Check(kNoNames, Bytes({0x09, 'h', 'i'})).ok());             // "hi"
  EXPECT_TRUE(Check(kNoNames, Bytes({0x00})).ok());                       // null
  // {"a": 1}: an object, 1 field (id 0), offsets 0 and 2, the int8 1.
  EXPECT_TRUE(Check(kNameA, Bytes({0x02, 0x01, 0x00, 0x00, 0x02, 0x0C, 0x01})).ok());
  // [1, "x"]: an array of 2, offsets 0, 2, 4.
  EXPECT_TRUE(
      Check(kNoNames, Bytes({0x03, 0x02, 0x00, 0x02, 0x04, 0x0C, 0x01, 0x05, 'x'})).ok());
  EXPECT_TRUE(Check(kNoNames, Nested(kMaxVariantDepth)).ok());
}

// Found by an attack run: 6 bytes claiming 2^28 elements made DuckDB allocate until the
// kernel killed the server; 30,000 levels crashed it at a read.
TEST(VariantValues, WhatDuckDBWouldTrustIsRefused) {
  auto claims = Check(kNoNames, Bytes({0xBB, 0x00, 0x00, 0x00, 0x10, 0x39}));
  ASSERT_FALSE(claims.ok());
  EXPECT_NE(claims.message().find("more elements than it holds"), std::string::npos) << claims;
  auto deep = Check(kNoNames, Nested(kMaxVariantDepth + 1));
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.message().find("256 levels"), std::string::npos) << deep;
  for (const auto& [metadata, value] : std::vector<std::pair<std::string, std::string>>{
           {kNoNames, Bytes({0x02, 0x01, 0x00, 0x00, 0x02, 0x0C, 0x01})},  // no name 0
           {kNoNames, Bytes({0x09, 'h'})},                                 // cut short
           {kNoNames, Bytes({0x09, 0xFF, 'x'})},                           // not UTF-8
           {kNoNames, Bytes({22 << 2})},                                   // type 22
           {kNoNames, Bytes({0x0C, 0x01, 0x00})},                          // bytes after
           {Bytes({0x02, 0x00, 0x00}), Bytes({0x00})},                     // version 2
           {Bytes({0x01, 0x05, 0x00}), Bytes({0x00})},                     // 5 names, none
           // decimal4 of scale 0 holding 10^9: ten digits in nine
           {kNoNames, Bytes({8 << 2, 0x00, 0x00, 0xCA, 0x9A, 0x3B})},
           // an object whose two fields share one value
           {Bytes({0x01, 0x02, 0x00, 0x01, 0x02, 'a', 'b'}),
            Bytes({0x02, 0x02, 0x00, 0x01, 0x00, 0x00, 0x02, 0x0C, 0x01})}}) {
    EXPECT_FALSE(Check(metadata, value).ok()) << arrow::HexEncode(value);
  }
}

// A 16 KB key named by 1,000 small objects: 16 MB as DuckDB stores it; a few MB of such
// rows made a checkpoint run out of memory and invalidate the database.
TEST(VariantValues, KeysNamedFarMoreOftenThanTheValueIsLongAreRefused) {
  auto u32 = [](uint32_t v) {
    return Bytes({static_cast<int>(v & 0xFF), static_cast<int>((v >> 8) & 0xFF),
                  static_cast<int>((v >> 16) & 0xFF), static_cast<int>(v >> 24)});
  };
  // An array (large, 4-byte offsets) of `count` objects {key: null} (1-byte count, id and
  // offsets).
  auto objects = [&](int count) {
    const std::string object = Bytes({0x02, 0x01, 0x00, 0x00, 0x01, 0x00});
    std::string value = Bytes({0x1F}) + u32(count);
    for (int i = 0; i <= count; ++i) value += u32(i * static_cast<uint32_t>(object.size()));
    for (int i = 0; i < count; ++i) value += object;
    return value;
  };
  auto metadata = [&](size_t key_bytes) {
    return Bytes({0x01 | (3 << 6)}) + u32(1) + u32(0) + u32(static_cast<uint32_t>(key_bytes)) +
           std::string(key_bytes, 'k');
  };
  auto refused = Check(metadata(16 << 10), objects(1000));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("names its keys"), std::string::npos) << refused.ToString();
  // Documents: short keys named by many objects, a long key named by a few.
  EXPECT_TRUE(Check(metadata(20), objects(1000)).ok());
  EXPECT_TRUE(Check(metadata(16 << 10), objects(3)).ok());
}

TEST(VariantValues, AVariantInsideAStructOrListIsFound) {
  auto bad = Variants({kNoNames}, {Bytes({0xBB, 0x00, 0x00, 0x00, 0x10, 0x39})});
  auto in_struct = arrow::StructArray::Make({bad}, {VariantField("inner")}).ValueOrDie();
  auto struct_field = arrow::field("s", in_struct->type());
  EXPECT_FALSE(CheckVariantValues(*struct_field, *in_struct->data()).ok());
  arrow::Int32Builder offset_builder;
  ASSERT_TRUE(offset_builder.AppendValues({0, 1}).ok());
  auto offsets = offset_builder.Finish().ValueOrDie();
  auto in_list = arrow::ListArray::FromArrays(arrow::list(VariantField("item")), *offsets, *bad)
                     .ValueOrDie();
  EXPECT_FALSE(CheckVariantValues(*arrow::field("l", in_list->type()), *in_list->data()).ok());
  // Without the extension's name it is a plain struct of binaries.
  EXPECT_TRUE(CheckVariantValues(*arrow::field("plain", bad->type()), *bad->data()).ok());
}

}  // namespace variant_values_test
}  // namespace arrowport::ingest
