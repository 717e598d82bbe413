package arrowport;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;

/**
 * What DBeaver does with auto-commit off when its user closes the editor or the
 * connection without committing: a write, then close(). Another connection must then
 * write and change the table's shape at once (issue 64: with ADBC such a change waited for
 * a transaction nobody would end). This driver (18.3) keeps auto-commit off to itself: it
 * begins no Flight SQL transaction, so each statement commits as it runs (docs/flight.md
 * says so); the check pins that, so that a driver that starts sending transactions is
 * noticed. Usage: JdbcAbandon HOST PORT. Exits non-zero on the first mismatch.
 */
public final class JdbcAbandon {
  private static void check(boolean ok, String what) {
    if (!ok) throw new AssertionError(what);
    System.out.println("ok: " + what);
  }

  public static void main(String[] args) throws Exception {
    String url = "jdbc:arrow-flight-sql://" + args[0] + ":" + args[1] + "/?useEncryption=false";
    try (Connection setup = DriverManager.getConnection(url);
         Statement st = setup.createStatement()) {
      st.execute("CREATE TABLE jdbc_abandoned (x INTEGER)");
      st.executeUpdate("INSERT INTO jdbc_abandoned VALUES (1)");
    }
    Connection abandoning = DriverManager.getConnection(url);
    abandoning.setAutoCommit(false);
    try (Statement st = abandoning.createStatement()) {
      st.executeUpdate("INSERT INTO jdbc_abandoned VALUES (2)");
    }
    abandoning.close();  // no commit
    try (Connection other = DriverManager.getConnection(url);
         Statement st = other.createStatement()) {
      try (ResultSet rs = st.executeQuery("SELECT count(*) FROM jdbc_abandoned")) {
        check(rs.next() && rs.getLong(1) == 2,
              "the driver committed the write made with auto-commit off");
      }
      long started = System.nanoTime();
      st.executeUpdate("INSERT INTO jdbc_abandoned VALUES (3)");
      st.execute("ALTER TABLE jdbc_abandoned ADD COLUMN y INTEGER");
      st.execute("DROP TABLE jdbc_abandoned");
      double seconds = (System.nanoTime() - started) / 1e9;
      check(seconds < 5.0, "insert, alter and drop at once after the close (" + seconds + " s)");
    }
    System.out.println("JDBC ABANDON PASSED");
  }
}
