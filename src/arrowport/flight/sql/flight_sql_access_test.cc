#include "arrowport/flight/sql/flight_sql_access.h"

#include <gtest/gtest.h>

#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/flight_sql_command.h"

namespace arrowport::flight::sql {
namespace flight_sql_access_test {

// A serialized protobuf Any carrying only the type URL of `name`.
std::string Command(const std::string& name) {
  const std::string url = std::string(kFlightSqlTypePrefix) + name;
  return std::string(1, '\x0A') + static_cast<char>(url.size()) + url;
}

bool Denied(const arrow::Status& st) {
  return HasErrorKind(st, ErrorKind::kPermissionDenied);
}

TEST(FlightSqlAccess, RolesFromTheCommandType) {
  const Principal reader{"r", Role::kReader, {}, {}, false};
  const Principal writer{"w", Role::kWriter, {}, {}, false};
  const Principal admin{"a", Role::kAdmin, {}, {}, false};
  const Principal narrow{"n", Role::kReader, {"t"}, {}, false};
  EXPECT_EQ(FlightSqlCommandName(Command("CommandGetTables")), "CommandGetTables");
  for (const auto* p : {&reader, &writer, &admin, &narrow}) {
    EXPECT_TRUE(CheckCommandAccess(p, Command("CommandGetTables"), false).ok());
    EXPECT_TRUE(CheckCommandAccess(p, Command("CommandGetSqlInfo"), false).ok());
  }
  EXPECT_TRUE(CheckCommandAccess(&reader, Command("CommandStatementQuery"), false).ok());
  // SQL is every role's, a table-limited one's too: the SQL sandbox holds it to its tables.
  EXPECT_TRUE(CheckCommandAccess(&narrow, Command("CommandStatementQuery"), false).ok());
  EXPECT_TRUE(CheckCommandAccess(&narrow, Command("TicketStatementQuery"), false).ok());
  for (const char* update :
       {"CommandStatementUpdate", "CommandPreparedStatementUpdate"}) {
    EXPECT_TRUE(Denied(CheckCommandAccess(&reader, Command(update), true))) << update;
    EXPECT_TRUE(Denied(CheckCommandAccess(&writer, Command(update), true))) << update;
    EXPECT_TRUE(CheckCommandAccess(&admin, Command(update), true).ok()) << update;
  }
  EXPECT_TRUE(
      Denied(CheckCommandAccess(&reader, Command("CommandStatementIngest"), true)));
  EXPECT_TRUE(CheckCommandAccess(&writer, Command("CommandStatementIngest"), true).ok());
  EXPECT_TRUE(CheckCommandAccess(nullptr, Command("CommandStatementUpdate"), true).ok());
}

}  // namespace flight_sql_access_test
}  // namespace arrowport::flight::sql
