#include "arrowport/common/json_util.h"

#include <gtest/gtest.h>

namespace arrowport {
namespace json_util_test {

TEST(JsonUtilTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(SanitizeUtf8("ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(SanitizeUtf8("a\xe0z"), "a\xef\xbf\xbdz");
  EXPECT_EQ(SanitizeUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_EQ(SanitizeUtf8("\xc3"), "\xef\xbf\xbd");  // truncated
}

}  // namespace json_util_test
}  // namespace arrowport
