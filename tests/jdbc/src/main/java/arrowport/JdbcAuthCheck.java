package arrowport;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

/**
 * The Flight SQL JDBC driver with user/password (what DBeaver sends): it exchanges them
 * for a bearer token at connect. Usage: JdbcAuthCheck HOST PORT USER PASSWORD. Prints
 * "CONNECT FAILED: ..." when the login is refused; otherwise the row count of table
 * people ("ROWS n") and what an INSERT (a Flight SQL update) answered ("UPDATE OK" or
 * "UPDATE FAILED: ...").
 */
public final class JdbcAuthCheck {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:arrow-flight-sql://" + args[0] + ":" + args[1] + "/?useEncryption=false";
    Properties props = new Properties();
    props.setProperty("user", args[2]);
    props.setProperty("password", args[3]);
    Connection conn;
    try {
      conn = DriverManager.getConnection(url, props);
    } catch (SQLException e) {
      System.out.println("CONNECT FAILED: " + e.getMessage());
      return;
    }
    try (conn; Statement st = conn.createStatement()) {
      try (ResultSet rs = st.executeQuery("SELECT count(*) FROM people")) {
        rs.next();
        System.out.println("ROWS " + rs.getLong(1));
      } catch (SQLException e) {
        System.out.println("QUERY FAILED: " + e.getMessage());
      }
      try {
        st.executeUpdate("INSERT INTO people VALUES (99, 'jdbc')");
        System.out.println("UPDATE OK");
      } catch (SQLException e) {
        System.out.println("UPDATE FAILED: " + e.getMessage());
      }
    }
  }
}
