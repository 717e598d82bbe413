#include "arrowport/query/whole_table_sql.h"

#include <gtest/gtest.h>

namespace arrowport::query {
namespace whole_table_sql_test {

// A whole table's reads are split into endpoints (Flight SQL GetFlightInfo): only these.
TEST(WholeTableOf, OnlyASelectStarOfOneTable) {
  EXPECT_EQ(WholeTableOf("SELECT * FROM t"), "t");
  EXPECT_EQ(WholeTableOf("  select\n*\tFrom  \"Events_2\" ; "), "Events_2");
  EXPECT_EQ(WholeTableOf("SeLeCt * fRoM _x1;"), "_x1");
  for (const char* other :
       {"SELECT * FROM t LIMIT 1000", "SELECT *FROM t", "SELECT* FROM t", "SELECT * FROM",
        "SELECT * FROM \"t", "SELECT * FROM t\"", "SELECT * FROM 1t", "SELECT * FROM s.t",
        "SELECT * FROM t;;", "SELECT a FROM t", "SELECT * FROM t, u", "WITH x AS (SELECT 1) "
        "SELECT * FROM x", "SELECT * FROM t WHERE 1", "", "SELECT * FROM \"\""}) {
    EXPECT_EQ(WholeTableOf(other), std::nullopt) << other;
  }
}

}  // namespace whole_table_sql_test
}  // namespace arrowport::query
