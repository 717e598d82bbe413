#include "arrowport/flight/sql/flight_sql_command.h"

#include <gtest/gtest.h>

#include <string>

namespace arrowport::flight::sql {
namespace flight_sql_command_test {

// A serialized google.protobuf.Any with `url` as type_url (field 1) and no value.
std::string AnyWithUrl(const std::string& url) {
  std::string out;
  out.push_back(0x0A);
  size_t length = url.size();
  while (length >= 0x80) {
    out.push_back(static_cast<char>((length & 0x7F) | 0x80));
    length >>= 7;
  }
  out.push_back(static_cast<char>(length));
  return out + url;
}

// The name a call reads once from the type URL and passes on, a view into its bytes.
FlightSqlCommand Of(const std::string& bytes) { return FlightSqlCommand::Of(bytes); }

TEST(FlightSqlCommandTest, RecognisesPackedFlightSqlMessagesOnly) {
  const std::string prefix = "type.googleapis.com/arrow.flight.protocol.sql.";
  const std::string query = AnyWithUrl(prefix + "CommandStatementQuery");
  EXPECT_TRUE(IsFlightSqlCommand(query));
  EXPECT_EQ(Of(query).name, "CommandStatementQuery");
  EXPECT_EQ(Of(query).name.data(), query.data() + query.size() - 21);  // no copy
  EXPECT_TRUE(CheckFlightSqlCommand(Of(query)).ok());
  const std::string nope = AnyWithUrl(prefix + "CommandNope");
  EXPECT_TRUE(IsFlightSqlCommand(nope));
  EXPECT_TRUE(CheckFlightSqlCommand(Of(nope)).IsInvalid());
  EXPECT_NE(CheckFlightSqlCommand(Of(nope)).message().find("'arrow.flight.protocol.sql."
                                                            "CommandNope'"),
            std::string::npos);
  // Ours: JSON, plain SQL, other protobuf types, truncated bytes.
  EXPECT_FALSE(IsFlightSqlCommand(R"({"sql": "SELECT 1"})"));
  EXPECT_FALSE(IsFlightSqlCommand("SELECT 1"));
  EXPECT_FALSE(IsFlightSqlCommand(AnyWithUrl("type.googleapis.com/other.Message")));
  EXPECT_FALSE(IsFlightSqlCommand(AnyWithUrl(prefix + "CommandStatementQuery").substr(0, 20)));
  EXPECT_FALSE(IsFlightSqlCommand(""));
  EXPECT_TRUE(Of("SELECT 1").name.empty());
  EXPECT_FALSE(IsFlightSqlCommand(std::string("\x0a\xff\xff\xff\xff\xff\xff", 7)));
  // A long URL needs a multi-byte length.
  EXPECT_TRUE(IsFlightSqlCommand(AnyWithUrl(prefix + std::string(200, 'X'))));
}

// Found by flight_sql_command_fuzzer: bytes that are not a Flight SQL Any (empty, JSON,
// another type URL) made the check throw std::out_of_range instead of answering Invalid.
TEST(FlightSqlCommandTest, CheckRefusesWhatIsNotAFlightSqlMessage) {
  for (const std::string& bytes :
       {std::string(), std::string("SELECT 1"), std::string(R"({"sql": "SELECT 1"})"),
        AnyWithUrl("type.googleapis.com/other.Message"),
        AnyWithUrl("type.googleapis.com/arrow.flight.protocol.sql."),
        std::string("\x0a\xff\xff\xff\xff\xff\xff", 7)}) {
    EXPECT_TRUE(CheckFlightSqlCommand(Of(bytes)).IsInvalid()) << bytes;
  }
}

TEST(FlightSqlCommandTest, ActionTypes) {
  EXPECT_TRUE(IsFlightSqlAction("CreatePreparedStatement"));
  EXPECT_TRUE(IsFlightSqlAction("CloseSession"));
  EXPECT_FALSE(IsFlightSqlAction("health"));
  EXPECT_FALSE(IsFlightSqlAction("checkpoint"));
}

}  // namespace flight_sql_command_test
}  // namespace arrowport::flight::sql
