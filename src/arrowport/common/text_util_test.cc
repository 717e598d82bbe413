#include "arrowport/common/text_util.h"

#include <gtest/gtest.h>

namespace arrowport {
namespace text_util_test {

TEST(TextUtil, TrimmedDropsTheBlanksAroundTheText) {
  EXPECT_EQ(Trimmed(" \t secret \r\n"), "secret");
  EXPECT_EQ(Trimmed("a b"), "a b");
  EXPECT_EQ(Trimmed(" \r\n\t "), "");
  EXPECT_EQ(Trimmed(""), "");
  // Only the blanks given: a header's optional white space is spaces and tabs.
  EXPECT_EQ(Trimmed(" gzip\r ", " \t"), "gzip\r");
  const std::string_view text = "  x ";
  EXPECT_EQ(Trimmed(text).data(), text.data() + 2);  // a view, not a copy
}

TEST(TextUtil, HexTextSpellsEachByteAsTwoDigits) {
  EXPECT_EQ(HexText(std::string("\x00\x0f\xa5\xff", 4)), "000fa5ff");
  EXPECT_EQ(HexTextUpper(std::string("\x00\x0f\xa5\xff", 4)), "000FA5FF");
  EXPECT_EQ(HexText(""), "");
}

}  // namespace text_util_test
}  // namespace arrowport
