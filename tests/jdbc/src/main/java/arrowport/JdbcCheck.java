package arrowport;

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * What DBeaver and other JDBC tools do against a Flight SQL server: connect, run DDL, DML
 * and queries, bind PreparedStatement parameters, and read the DatabaseMetaData the
 * navigator shows. Usage: JdbcCheck HOST PORT. Exits non-zero on the first mismatch.
 */
public final class JdbcCheck {
  private static void check(boolean ok, String what) {
    if (!ok) throw new AssertionError(what);
    System.out.println("ok: " + what);
  }

  private static List<String> column(ResultSet rs, String name) throws SQLException {
    List<String> out = new ArrayList<>();
    while (rs.next()) out.add(rs.getString(name));
    rs.close();
    return out;
  }

  public static void main(String[] args) throws Exception {
    String url = "jdbc:arrow-flight-sql://" + args[0] + ":" + args[1] + "/?useEncryption=false";
    try (Connection conn = DriverManager.getConnection(url)) {
      try (Statement st = conn.createStatement()) {
        st.execute("CREATE TABLE jdbc_people (id INTEGER PRIMARY KEY, name VARCHAR, score DOUBLE)");
        int inserted = st.executeUpdate(
            "INSERT INTO jdbc_people VALUES (1, 'ada', 1.5), (2, 'bob', 2.5)");
        check(inserted == 2, "executeUpdate returns the rows inserted (" + inserted + ")");
        try (ResultSet rs = st.executeQuery("SELECT id, name FROM jdbc_people ORDER BY id")) {
          check(rs.next() && rs.getInt(1) == 1 && rs.getString(2).equals("ada"), "first row");
          check(rs.next() && rs.getInt(1) == 2, "second row");
          check(!rs.next(), "two rows");
        }
        check(st.execute("SELECT 42 AS answer"), "execute of a query reports a result set");
        try (ResultSet rs = st.getResultSet()) {
          check(rs.next() && rs.getLong("answer") == 42, "execute result");
        }
      }
      try (PreparedStatement ps =
               conn.prepareStatement("INSERT INTO jdbc_people VALUES (?, ?, ?)")) {
        ps.setInt(1, 3);
        ps.setString(2, "cy");
        ps.setDouble(3, 3.5);
        check(ps.executeUpdate() == 1, "prepared insert with parameters");
      }
      try (PreparedStatement ps =
               conn.prepareStatement("SELECT name FROM jdbc_people WHERE id = ?")) {
        ps.setInt(1, 3);
        try (ResultSet rs = ps.executeQuery()) {
          check(rs.next() && rs.getString(1).equals("cy"), "prepared query with a parameter");
        }
      }
      try (Statement st = conn.createStatement()) {
        try {
          st.executeQuery("SELEC 1");
          check(false, "a syntax error must fail");
        } catch (SQLException e) {
          check(e.getMessage().contains("syntax error"), "syntax error message: " + e.getMessage());
        }
      }
      DatabaseMetaData meta = conn.getMetaData();
      check(meta.getDatabaseProductName().equals("Arrowport"), "product name");
      check(meta.getIdentifierQuoteString().equals("\""), "identifier quote");
      check(column(meta.getCatalogs(), "TABLE_CAT").contains(args[2]), "catalogs");
      check(column(meta.getSchemas(), "TABLE_SCHEM").contains("main"), "schemas");
      check(column(meta.getTables(null, null, "jdbc%", null), "TABLE_NAME")
                .equals(List.of("jdbc_people")), "tables");
      check(column(meta.getColumns(null, null, "jdbc_people", null), "COLUMN_NAME")
                .equals(List.of("id", "name", "score")), "columns");
      check(column(meta.getColumns(null, null, "jdbc_people", null), "TYPE_NAME")
                .equals(List.of("INTEGER", "VARCHAR", "DOUBLE")), "column type names");
      check(column(meta.getColumns(null, null, "jdbc_people", "id"), "IS_NULLABLE")
                .equals(List.of("NO")), "primary key column is not nullable");
      check(column(meta.getPrimaryKeys(null, null, "jdbc_people"), "COLUMN_NAME")
                .equals(List.of("id")), "primary keys");
      // getTypeInfo(): this driver answers it locally (empty) without asking the server;
      // GetXdbcTypeInfo is tested with a raw Flight SQL call in test_flight_sql.py.
      check(column(meta.getTableTypes(), "TABLE_TYPE").contains("TABLE"), "table types");
      check(column(meta.getImportedKeys(null, null, "jdbc_people"), "PKCOLUMN_NAME").isEmpty(),
            "imported keys");
    }
    System.out.println("JDBC CHECK PASSED");
  }
}
