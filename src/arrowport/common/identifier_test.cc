#include "arrowport/common/identifier.h"

#include <gtest/gtest.h>

namespace arrowport {
namespace identifier_test {

TEST(ValidateName, AcceptsPlainIdentifiers) {
  EXPECT_TRUE(ValidateName("table", "sensor_readings").ok());
  EXPECT_TRUE(ValidateName("table", "_t1").ok());
  EXPECT_TRUE(ValidateName("stream", "A").ok());
}

TEST(ValidateName, RejectsInjectionAndOddNames) {
  for (const char* bad : {"x; DROP TABLE y", "", "1abc", "a-b", "a b", "a\"b", "../etc",
                          "t\n", "naïve"}) {
    auto st = ValidateName("stream", bad);
    EXPECT_TRUE(st.IsInvalid()) << bad;
  }
  auto st = ValidateName("stream", "x; DROP TABLE y");
  EXPECT_NE(st.message().find("invalid stream name 'x; DROP TABLE y'"), std::string::npos)
      << st.message();
  EXPECT_TRUE(ValidateName("table", std::string(129, 'a')).IsInvalid());
}

TEST(QuoteIdentifier, DoublesQuotes) {
  EXPECT_EQ(QuoteIdentifier("a"), "\"a\"");
  EXPECT_EQ(QuoteIdentifier("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
}

}  // namespace identifier_test
}  // namespace arrowport
