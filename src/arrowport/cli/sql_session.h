#pragma once

#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::cli {

class FlightConnection;

/// A table or view as Flight SQL's GetTables lists it.
struct SqlTable {
  std::string schema, name, type;
  std::shared_ptr<arrow::Schema> columns;  ///< when asked for
};

/// \brief The SQL shell's connection: statements run as Flight SQL's
/// CommandStatementQuery (the protocol ADBC and JDBC speak), signed in and over TLS as the
/// other client commands are (client.h).
class SqlSession {
 public:
  static arrow::Result<std::unique_ptr<SqlSession>> Connect(const std::string& url,
                                                            const std::string& tls_ca,
                                                            double connect_wait_s);
  ~SqlSession();

  /// Runs `sql`: its rows, read from each endpoint of its result in turn. Cancel() stops
  /// the rows being read; a statement the server runs whole before it answers (CTAS,
  /// INSERT: Flight SQL's GetFlightInfo, which a client cannot interrupt) runs to its end.
  /// `progress_key` (may be empty): sent with its result's DoGets for a
  /// QueryProgressPoller, which asks QueryProgress().
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Execute(
      const std::string& sql, const std::string& progress_key = "");
  /// The server's `query_progress` action with `body` (from another thread than a
  /// running Execute's reader, which it may run beside).
  arrow::Result<std::string> QueryProgress(const std::string& body);

  /// Tables and views whose name matches `name_pattern` (SQL LIKE; "" all), with their
  /// columns when `with_columns`.
  arrow::Result<std::vector<SqlTable>> Tables(const std::string& name_pattern, bool with_columns);

  /// From any thread: cancels the statement running now, if any (its reader then fails
  /// with Cancelled); returns whether its rows were being read (else it was still in the
  /// server's planning call).
  bool Cancel();
  /// Whether the last statement was cancelled while its rows were being read (else Ctrl-C
  /// came while the server was still in the call that plans it, or after it ended).
  bool CancelledWhileReading() const;

 private:
  struct Impl;
  explicit SqlSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arrowport::cli
