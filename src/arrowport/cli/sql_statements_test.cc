#include "arrowport/cli/sql_statements.h"

#include <gtest/gtest.h>

namespace arrowport::cli {
namespace sql_statements_test {

std::vector<std::string> Split(const std::vector<std::string>& lines) {
  StatementSplitter splitter;
  for (const auto& line : lines) splitter.Feed(line);
  return splitter.TakeComplete();
}

TEST(StatementSplitterTest, CutsAtSemicolonsAcrossAndWithinLines) {
  EXPECT_EQ(Split({"SELECT 1; SELECT 2;"}), (std::vector<std::string>{"SELECT 1", "SELECT 2"}));
  EXPECT_EQ(Split({"SELECT", "  42", ";"}), (std::vector<std::string>{"SELECT\n  42"}));
  EXPECT_EQ(Split({";;  ;", "SELECT 3;"}), (std::vector<std::string>{"SELECT 3"}));
}

TEST(StatementSplitterTest, KeepsSemicolonsInsideQuotesAndComments) {
  EXPECT_EQ(Split({"SELECT 'a;b', \"c;d\";"}),
            (std::vector<std::string>{"SELECT 'a;b', \"c;d\""}));
  EXPECT_EQ(Split({"SELECT 'it''s; fine';"}),
            (std::vector<std::string>{"SELECT 'it''s; fine'"}));
  EXPECT_EQ(Split({"SELECT 1 -- a; comment", ";"}),
            (std::vector<std::string>{"SELECT 1 -- a; comment"}));
  EXPECT_EQ(Split({"SELECT /* a; /* nested; */ still; */ 1;"}),
            (std::vector<std::string>{"SELECT /* a; /* nested; */ still; */ 1"}));
  EXPECT_EQ(Split({"SELECT $$a;b$$, $x$c;$$;d$x$;"}),
            (std::vector<std::string>{"SELECT $$a;b$$, $x$c;$$;d$x$"}));
  EXPECT_EQ(Split({"SELECT 'multi", "line; text';"}),
            (std::vector<std::string>{"SELECT 'multi\nline; text'"}));
}

TEST(StatementSplitterTest, EscapeStringsAndNamesWithDollars) {
  EXPECT_EQ(Split({"SELECT E'it\\'s; here' AS x; SELECT 2;"}),
            (std::vector<std::string>{"SELECT E'it\\'s; here' AS x", "SELECT 2"}));
  // A name ending in e before a quote is not an escape string's E.
  EXPECT_EQ(Split({"SELECT type'a\\'; SELECT 3;"}),
            (std::vector<std::string>{"SELECT type'a\\'", "SELECT 3"}));
  EXPECT_EQ(Split({"SELECT $\xC3\xA9$a;b$\xC3\xA9$ AS v; SELECT 4;"}),
            (std::vector<std::string>{"SELECT $\xC3\xA9$a;b$\xC3\xA9$ AS v", "SELECT 4"}));
  EXPECT_EQ(Split({"SELECT 1 AS a$b$c; SELECT 2;"}),
            (std::vector<std::string>{"SELECT 1 AS a$b$c", "SELECT 2"}));
}

TEST(StatementSplitterTest, TellsATextEndingInsideAQuoteOrComment) {
  StatementSplitter splitter;
  splitter.Feed("SELECT 1; /* forgot to close");
  splitter.Feed("SELECT 2;");
  EXPECT_EQ(splitter.TakeComplete(), (std::vector<std::string>{"SELECT 1"}));
  EXPECT_TRUE(splitter.unterminated());
  splitter.Reset();
  splitter.Feed("SELECT 3 -- a comment to the end");
  EXPECT_FALSE(splitter.unterminated());
}

TEST(StatementSplitterTest, PositionalParameterIsNotADollarQuote) {
  EXPECT_EQ(Split({"SELECT $1; SELECT 2;"}), (std::vector<std::string>{"SELECT $1", "SELECT 2"}));
}

TEST(StatementSplitterTest, PendingTextWaitsForItsSemicolon) {
  StatementSplitter splitter;
  splitter.Feed("-- only a comment");
  EXPECT_FALSE(splitter.pending());
  splitter.Feed("SELECT 1; SELECT");
  // A comment before a statement goes with it, as typed.
  EXPECT_EQ(splitter.TakeComplete(), (std::vector<std::string>{"-- only a comment\nSELECT 1"}));
  EXPECT_TRUE(splitter.pending());
  splitter.Feed("'open;");
  EXPECT_TRUE(splitter.TakeComplete().empty());
  EXPECT_EQ(splitter.TakePending(), "SELECT\n'open;");
  EXPECT_FALSE(splitter.pending());
  splitter.Feed("SELECT 2;");  // after TakePending the quote state is gone too
  EXPECT_EQ(splitter.TakeComplete(), (std::vector<std::string>{"SELECT 2"}));
}

TEST(StatementSplitterTest, ResetForgetsAnOpenQuote) {
  StatementSplitter splitter;
  splitter.Feed("SELECT 'never closed");
  splitter.Reset();
  splitter.Feed("SELECT 1;");
  EXPECT_EQ(splitter.TakeComplete(), (std::vector<std::string>{"SELECT 1"}));
}

TEST(StatementSplitterTest, DotCommandsAreRecognisedOnlyAsSuch) {
  EXPECT_TRUE(IsDotCommand(".tables"));
  EXPECT_TRUE(IsDotCommand("  .mode csv"));
  EXPECT_FALSE(IsDotCommand("SELECT .5"));
  EXPECT_FALSE(IsDotCommand(".5"));
  EXPECT_FALSE(IsDotCommand("."));
}

}  // namespace sql_statements_test
}  // namespace arrowport::cli
