// arrowport bench: 1,000-row request round trips against their ceilings.
#include <arrow/flight/api.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrowport/bench/duckdb_ceilings.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/flight_sql_client.h"
#include "arrowport/cli/generate.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/ingest/validating_reader.h"
#include "arrowport/query/query_pipeline.h"

namespace arrowport::bench {

namespace {

constexpr int kRequests = 300;
constexpr const char* kQuery = "SELECT * FROM rt LIMIT 1000";
constexpr const char* kCreateInsertTarget = "CREATE TABLE ins (k BIGINT, s VARCHAR)";
constexpr const char* kInsert = "INSERT INTO ins VALUES (1, 'one row')";

// Median and p99 of `kRequests` sequential calls, in milliseconds.
arrow::Result<std::pair<double, double>> MedianAndP99(
    const std::function<arrow::Status()>& request) {
  std::vector<double> ms;
  for (int i = 0; i < kRequests; ++i) {
    ARROW_ASSIGN_OR_RAISE(const double seconds, SecondsOf(request));
    ms.push_back(1000 * seconds);
  }
  std::sort(ms.begin(), ms.end());
  return std::make_pair(ms[ms.size() / 2], ms[ms.size() * 99 / 100]);
}

}  // namespace

arrow::Result<LatencyAlone> MeasureLatencyAlone(const std::string& db_path) {
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(1000, 1000, false));
  ARROW_ASSIGN_OR_RAISE(auto batch, table->CombineChunksToBatch());
  const std::string path = db_path + ".duckdb-only";
  RemoveDatabaseFiles(path);
  LatencyAlone alone;
  {
    ARROW_ASSIGN_OR_RAISE(auto duckdb_only, DuckDBOnly::Open(path, 0));
    ARROW_RETURN_NOT_OK(
        duckdb_only->CreateTableAs("rt", std::make_shared<arrow::TableBatchReader>(table))
            .status());
    ARROW_ASSIGN_OR_RAISE(alone.append, MedianAndP99([&] {
                            return duckdb_only->AppendCommitted("rt", *batch);
                          }));
    ARROW_ASSIGN_OR_RAISE(alone.query, MedianAndP99([&] {
                            return duckdb_only->ExportArrow(kQuery, 1000).status();
                          }));
    ARROW_RETURN_NOT_OK(duckdb_only->Run(kCreateInsertTarget));
    ARROW_ASSIGN_OR_RAISE(alone.insert,
                          MedianAndP99([&] { return duckdb_only->Run(kInsert); }));
    ARROW_RETURN_NOT_OK(duckdb_only->Run("SET disabled_optimizers = 'late_materialization'"));
    ARROW_ASSIGN_OR_RAISE(alone.query_no_late_materialization, MedianAndP99([&] {
                            return duckdb_only->ExportArrow(kQuery, 1000).status();
                          }));
  }
  RemoveDatabaseFiles(path);
  return alone;
}

namespace {

using Latency = std::pair<double, double>;  // median and p99, in milliseconds

// One ingest request of `table` to stream "rt".
std::function<arrow::Status()> PutRequest(DataClient* client,
                                          std::shared_ptr<arrow::Table> table) {
  return [client, table]() {
    return client->Put(R"({"stream": "rt"})", std::make_shared<arrow::TableBatchReader>(table))
        .status();
  };
}

// One read of `ticket`, every batch collected.
std::function<arrow::Status()> ReadRequest(DataClient* client, std::string ticket) {
  return [client, ticket = std::move(ticket)]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto reader, client->Get(ticket));
    return reader->ToTable().status();
  };
}

// The ceilings beside DuckDB alone's (LatencyAlone).
struct LatencyCeilings {
  Latency in_process;       // our ingest pipeline without a network
  Latency transport_put;    // plain Flight DoPut, discarded
  Latency transport_query;  // plain Flight GetFlightInfo + DoGet
  Latency transport_get;    // plain Flight DoGet, ticket in hand
};

// Ceilings: the same bytes over plain Flight (a server that discards them, or answers
// GetFlightInfo and streams the table), and ours: the same request into the same
// pipeline without a network.
arrow::Result<LatencyCeilings> MeasureCeilings(const std::string& db_path,
                                               const std::shared_ptr<arrow::Table>& table) {
  LatencyCeilings out;
  {
    ARROW_ASSIGN_OR_RAISE(auto ceiling, CeilingDatabase::Open(db_path));
    ingest::StreamRouter router(config::Config{});
    ingest::IngestPipeline pipeline(ceiling->database.get(), &router);
    ingest::IngestRequest request;
    request.stream = "rt";
    ARROW_ASSIGN_OR_RAISE(out.in_process, MedianAndP99([&]() {
      return pipeline.Ingest(request, std::make_shared<arrow::TableBatchReader>(table)).status();
    }));
  }
  ARROW_ASSIGN_OR_RAISE(auto plain, InMemoryFlightServer::Start(table));
  ARROW_ASSIGN_OR_RAISE(auto client, FlightConnection::Connect(plain->uri()));
  ARROW_ASSIGN_OR_RAISE(out.transport_put, MedianAndP99(PutRequest(client.get(), table)));
  ARROW_ASSIGN_OR_RAISE(auto location, arrow::flight::Location::Parse(plain->uri()));
  ARROW_ASSIGN_OR_RAISE(auto raw, arrow::flight::FlightClient::Connect(location));
  ARROW_ASSIGN_OR_RAISE(out.transport_query, MedianAndP99([&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto info,
                          raw->GetFlightInfo(arrow::flight::FlightDescriptor::Command("rt")));
    for (const auto& endpoint : info->endpoints()) {
      ARROW_ASSIGN_OR_RAISE(auto stream, raw->DoGet(endpoint.ticket));
      ARROW_RETURN_NOT_OK(stream->ToTable().status());
    }
    return arrow::Status::OK();
  }));
  // One DoGet of a ticket the client already holds: what a Flight DoGet of a query or
  // a table costs when nothing runs to make the rows.
  ARROW_ASSIGN_OR_RAISE(auto info,
                        raw->GetFlightInfo(arrow::flight::FlightDescriptor::Command("rt")));
  const std::string plain_ticket = info->endpoints().at(0).ticket.ticket;
  ARROW_ASSIGN_OR_RAISE(out.transport_get,
                        MedianAndP99(ReadRequest(client.get(), plain_ticket)));
  ARROW_RETURN_NOT_OK(plain->Shutdown());
  return out;
}

// The server's own round trips, end to end.
struct ServerLatency {
  Latency flight_put, http_put, get_sql, get_table, prepared_query, insert;
};

arrow::Result<ServerLatency> MeasureServer(server::Server* srv,
                                           const std::shared_ptr<arrow::Table>& table) {
  ServerLatency out;
  ARROW_ASSIGN_OR_RAISE(auto one, ConnectDataClient(srv->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(auto http, ConnectDataClient(srv->http_uri()));
  ARROW_ASSIGN_OR_RAISE(out.flight_put, MedianAndP99(PutRequest(one.get(), table)));
  ARROW_ASSIGN_OR_RAISE(out.http_put, MedianAndP99(PutRequest(http.get(), table)));
  // Small reads in one round trip: a DoGet whose ticket is the query, and one whose
  // ticket names a 1,000-row table.
  ARROW_RETURN_NOT_OK(
      one->Put(R"({"stream": "rt1k"})", std::make_shared<arrow::TableBatchReader>(table))
          .status());
  const std::string sql_ticket = std::string(R"({"sql": ")") + kQuery + R"("})";
  ARROW_ASSIGN_OR_RAISE(out.get_sql, MedianAndP99(ReadRequest(one.get(), sql_ticket)));
  ARROW_ASSIGN_OR_RAISE(out.get_table,
                        MedianAndP99(ReadRequest(one.get(), R"({"table": "rt1k"})")));
  // Flight SQL: a prepared query returning the 1,000 rows just written, run repeatedly.
  ARROW_ASSIGN_OR_RAISE(auto flight_sql, FlightSqlConnection::Connect(srv->flight_uri()));
  ARROW_RETURN_NOT_OK(flight_sql->Prepare(kQuery));
  ARROW_ASSIGN_OR_RAISE(out.prepared_query,
                        MedianAndP99([&]() { return flight_sql->RunPrepared().status(); }));
  // A client's one-row INSERT (ADBC execute_update) with a deadline, as JDBC tools set.
  ARROW_RETURN_NOT_OK(flight_sql->Update(kCreateInsertTarget, 30).status());
  ARROW_ASSIGN_OR_RAISE(out.insert, MedianAndP99([&]() {
                          return flight_sql->Update(kInsert, 30).status();
                        }));
  return out;
}

void PrintLatencyTable(const LatencyAlone& alone, const LatencyCeilings& ceilings,
                       const ServerLatency& ours) {
  std::printf("\n| 1,000-row request round trip (%d sequential, file database) | median | p99 |\n",
              kRequests);
  std::printf("|---|---:|---:|\n");
  auto row = [](const char* what, const Latency& v) {
    std::printf("| %s | %.2f ms | %.2f ms |\n", what, v.first, v.second);
  };
  row("ceiling: DuckDB alone, its appender of the Arrow batch, committed", alone.append);
  row("ceiling: plain Flight DoPut, discarded", ceilings.transport_put);
  row("ours: ingest pipeline, in process (DuckDB commit included)", ceilings.in_process);
  row("Flight DoPut -> DuckDB, one connection (end to end)", ours.flight_put);
  row("HTTP POST /ingest -> DuckDB, new connection each (end to end)", ours.http_put);
  row("ceiling: DuckDB alone, the query collected as Arrow (DuckDB's default plan)",
      alone.query);
  row("ceiling: DuckDB alone, the same with late materialization off (the server's default)",
      alone.query_no_late_materialization);
  row("ceiling: plain Flight GetFlightInfo + DoGet of 1,000 in-memory rows",
      ceilings.transport_query);
  row("ceiling: plain Flight DoGet of 1,000 in-memory rows (ticket in hand)",
      ceilings.transport_get);
  row("Flight DoGet of a 1,000-row query (ticket = the SQL)", ours.get_sql);
  row("Flight DoGet of a 1,000-row table (ticket = the table)", ours.get_table);
  row("Flight SQL prepared query of 1,000 rows (GetFlightInfo + DoGet)", ours.prepared_query);
  row("ceiling: DuckDB alone, a one-row INSERT statement (autocommit)", alone.insert);
  row("Flight SQL one-row INSERT, 30 s deadline (DoPut CommandStatementUpdate)", ours.insert);
  std::fflush(stdout);
}

}  // namespace

// Concurrent producers and small-request latency (ingest you can trust: issue 4).
// Round trip of a 1,000-row request, sequential, on one connection. Runs first, on a
// quiet machine and database: no bulk load's WAL checkpoint or write-back competes with
// the commits being timed.
arrow::Status BenchLatency(const std::string& db_path, const LatencyAlone& alone) {
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(1000, 1000, false));
  ARROW_ASSIGN_OR_RAISE(const LatencyCeilings ceilings, MeasureCeilings(db_path, table));
  ARROW_ASSIGN_OR_RAISE(auto srv, StartBenchServer(db_path));
  ARROW_ASSIGN_OR_RAISE(const ServerLatency ours, MeasureServer(srv.get(), table));
  PrintLatencyTable(alone, ceilings, ours);
  return srv->Shutdown();
}

}  // namespace arrowport::bench
