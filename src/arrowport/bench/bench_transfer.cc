// arrowport bench, transfer part: DoExchange and server-to-server copy of the 5-column
// table, each against the plain DoPut and DoGet of the same run, with peak memory.
#include <arrow/flight/api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/generate.h"

namespace arrowport::bench {

namespace {

namespace fl = arrow::flight;

// The process's peak resident set since the last ResetPeakRss (Linux: VmHWM).
int64_t PeakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// One DoExchange of `table` through `sql`: the client writes on one thread and reads the
// result on another, as an exchange client must.
arrow::Result<int64_t> Exchange(const std::string& uri, const std::shared_ptr<arrow::Table>& table,
                                const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(uri));
  ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(location));
  ARROW_ASSIGN_OR_RAISE(auto exchange,
                        client->DoExchange(fl::FlightDescriptor::Command(
                            R"({"sql": ")" + sql + R"("})")));
  arrow::Status sent;
  std::thread writer([&] {
    sent = [&]() -> arrow::Status {
      ARROW_RETURN_NOT_OK(exchange.writer->Begin(table->schema()));
      arrow::TableBatchReader batches(table);
      std::shared_ptr<arrow::RecordBatch> batch;
      while (true) {
        ARROW_RETURN_NOT_OK(batches.ReadNext(&batch));
        if (batch == nullptr) break;
        ARROW_RETURN_NOT_OK(exchange.writer->WriteRecordBatch(*batch));
      }
      return exchange.writer->DoneWriting();
    }();
  });
  int64_t rows = 0;
  auto received = [&]() -> arrow::Status {
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto chunk, exchange.reader->Next());
      if (chunk.data == nullptr) return arrow::Status::OK();
      rows += chunk.data->num_rows();
    }
  }();
  writer.join();
  ARROW_RETURN_NOT_OK(sent);
  ARROW_RETURN_NOT_OK(received);
  ARROW_RETURN_NOT_OK(exchange.writer->Close());
  return rows;
}

}  // namespace

arrow::Status BenchTransfer(const BenchOptions& options, const std::string& db_path) {
  const int64_t rows = *std::max_element(options.rows.begin(), options.rows.end());
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, false));
  const double bytes = static_cast<double>(arrow::util::TotalBufferSize(*table));
  ARROW_ASSIGN_OR_RAISE(auto source, StartBenchServer(db_path + ".source", {"127.0.0.1:*"}));
  ARROW_ASSIGN_OR_RAISE(auto target, StartBenchServer(db_path + ".target", {"127.0.0.1:*"}));
  ARROW_ASSIGN_OR_RAISE(auto to_source, FlightConnection::Connect(source->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(auto to_target, FlightConnection::Connect(target->flight_uri()));
  struct Row {
    std::string what;
    double seconds;
    double ratio;
    int64_t peak_rss;
  };
  std::vector<Row> results;
  auto measure = [&](const std::string& what,
                     const std::function<arrow::Result<int64_t>()>& run) -> arrow::Result<double> {
    ResetPeakRss();
    ARROW_ASSIGN_OR_RAISE(double seconds, BestSeconds(options.repeat, rows, run));
    results.push_back({what, seconds, -1, PeakRssBytes()});
    return seconds;
  };
  auto put_into_target = [&]() -> arrow::Result<int64_t> {
    ARROW_RETURN_NOT_OK(to_target->Put(R"({"stream": "bench", "mode": "replace"})",
                                       std::make_shared<arrow::TableBatchReader>(table))
                            .status());
    return rows;
  };
  ARROW_ASSIGN_OR_RAISE(double put,
                        measure("Flight DoPut -> DuckDB (target server)", put_into_target));
  ARROW_RETURN_NOT_OK(to_source->Put(R"({"stream": "bench", "mode": "replace"})",
                                     std::make_shared<arrow::TableBatchReader>(table))
                          .status());
  auto get_from_source = [&]() -> arrow::Result<int64_t> {
    ARROW_ASSIGN_OR_RAISE(auto reader, to_source->Get(R"({"table": "bench"})"));
    return Drain(reader.get());
  };
  ARROW_ASSIGN_OR_RAISE(double get,
                        measure("Flight DoGet <- DuckDB (source server)", get_from_source));
  const double slower = std::max(put, get);
  auto exchange_through_source = [&]() {
    return Exchange(source->flight_uri(), table, "SELECT * FROM input");
  };
  ARROW_ASSIGN_OR_RAISE(double exchange,
                        measure("DoExchange SELECT * FROM input (both ways at once)",
                                exchange_through_source));
  results.back().ratio = slower / exchange;
  auto copy_into_target = [&]() -> arrow::Result<int64_t> {
    const std::string body = R"({"source": ")" + source->flight_uri() +
                             R"(", "source_table": "bench", "target_table": "copied", )"
                             R"("mode": "replace"})";
    ARROW_ASSIGN_OR_RAISE(auto summary, to_target->Action("copy_from", body));
    const auto pos = summary.find("\"rows\":");
    const auto digits = pos == std::string::npos ? pos : summary.find_first_of("0123456789", pos);
    if (digits == std::string::npos) return arrow::Status::IOError("no rows in ", summary);
    return static_cast<int64_t>(std::strtoll(summary.c_str() + digits, nullptr, 10));
  };
  ARROW_ASSIGN_OR_RAISE(double copy,
                        measure("copy_from: target pulls the source's DoGet into DuckDB",
                                copy_into_target));
  results.back().ratio = slower / copy;
  ARROW_RETURN_NOT_OK(source->Shutdown());
  ARROW_RETURN_NOT_OK(target->Shutdown());
  RemoveDatabaseFiles(db_path + ".source");
  RemoveDatabaseFiles(db_path + ".target");
  std::printf("\n| rows | measurement (5 columns, both servers in this process) | rows/s | MB/s "
              "| ratio to the slower of DoPut and DoGet | peak RSS (MB) |\n");
  std::printf("|---:|---|---:|---:|---:|---:|\n");
  for (const auto& r : results) {
    char ratio[32] = "";
    if (r.ratio >= 0) std::snprintf(ratio, sizeof(ratio), "%.2f x", r.ratio);
    std::printf("| %lld | %s | %.2f M | %.0f | %s | %.0f |\n", static_cast<long long>(rows),
                r.what.c_str(), rows / r.seconds / 1e6, bytes / r.seconds / 1e6, ratio,
                r.peak_rss / 1e6);
  }
  std::printf("\nPeak RSS is the bench process's (the %.0f MB table the client sends is "
              "held in memory throughout).\n", bytes / 1e6);
  std::fflush(stdout);
  return arrow::Status::OK();
}

}  // namespace arrowport::bench
