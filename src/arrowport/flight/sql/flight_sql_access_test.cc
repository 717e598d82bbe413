#include "arrowport/flight/sql/flight_sql_access.h"

#include <gtest/gtest.h>

#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/flight_sql_command.h"

namespace arrowport::flight::sql {
namespace flight_sql_access_test {

// A serialized protobuf Any carrying only the type URL of `name`.
std::string Bytes(const std::string& name) {
  const std::string url = std::string(kFlightSqlTypePrefix) + name;
  return std::string(1, '\x0A') + static_cast<char>(url.size()) + url;
}

// The access check of command `name`, read from its bytes as a call reads it.
arrow::Status Access(const Principal* principal, const std::string& name, bool put) {
  const std::string bytes = Bytes(name);
  return CheckCommandAccess(principal, FlightSqlCommand::Of(bytes), put);
}

bool Denied(const arrow::Status& st) {
  return HasErrorKind(st, ErrorKind::kPermissionDenied);
}

TEST(FlightSqlAccess, RolesFromTheCommandType) {
  const Principal reader{"r", Role::kReader, {}, {}, false};
  const Principal writer{"w", Role::kWriter, {}, {}, false};
  const Principal admin{"a", Role::kAdmin, {}, {}, false};
  const Principal narrow{"n", Role::kReader, {"t"}, {}, false};
  const std::string tables = Bytes("CommandGetTables");
  EXPECT_EQ(FlightSqlCommand::Of(tables).name, "CommandGetTables");
  for (const auto* p : {&reader, &writer, &admin, &narrow}) {
    EXPECT_TRUE(Access(p, "CommandGetTables", false).ok());
    EXPECT_TRUE(Access(p, "CommandGetSqlInfo", false).ok());
  }
  EXPECT_TRUE(Access(&reader, "CommandStatementQuery", false).ok());
  // SQL is every role's, a table-limited one's too: the SQL sandbox holds it to its tables.
  EXPECT_TRUE(Access(&narrow, "CommandStatementQuery", false).ok());
  EXPECT_TRUE(Access(&narrow, "TicketStatementQuery", false).ok());
  for (const char* update :
       {"CommandStatementUpdate", "CommandPreparedStatementUpdate"}) {
    EXPECT_TRUE(Denied(Access(&reader, update, true))) << update;
    EXPECT_TRUE(Denied(Access(&writer, update, true))) << update;
    EXPECT_TRUE(Access(&admin, update, true).ok()) << update;
  }
  EXPECT_TRUE(Denied(Access(&reader, "CommandStatementIngest", true)));
  EXPECT_TRUE(Access(&writer, "CommandStatementIngest", true).ok());
  EXPECT_TRUE(Access(nullptr, "CommandStatementUpdate", true).ok());
}

}  // namespace flight_sql_access_test
}  // namespace arrowport::flight::sql
