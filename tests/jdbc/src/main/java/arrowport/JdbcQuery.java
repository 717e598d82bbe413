package arrowport;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;

/**
 * Connects with a full JDBC URL (e.g. with useEncryption=true and tlsRootCerts=CA.pem) and
 * prints the first column of the first row of a query. Usage: JdbcQuery URL SQL. Exits
 * non-zero when the connection or the query fails.
 */
public final class JdbcQuery {
  public static void main(String[] args) throws Exception {
    try (Connection conn = DriverManager.getConnection(args[0]);
         Statement st = conn.createStatement();
         ResultSet rs = st.executeQuery(args[1])) {
      if (!rs.next()) throw new AssertionError("no row");
      System.out.println("JDBC RESULT " + rs.getString(1));
    }
  }
}
