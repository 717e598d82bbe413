// arrowport bench, metrics part: what the metric updates cost. The same ingest, in the same
// run, into two servers of this process: one counting every call, request and batch (the
// default), one with metrics.enabled: false. The two alternate, run by run, so that the
// machine's noise falls on both alike.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/generate.h"

namespace arrowport::bench {

namespace {

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

arrow::Status BenchMetrics(const BenchOptions& options, const std::string& db_path) {
  constexpr int kSmallRequests = 300;
  const int64_t rows = *std::max_element(options.rows.begin(), options.rows.end());
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, false));
  ARROW_ASSIGN_OR_RAISE(auto small, MakeBenchTable(1000, 1000, false));
  ARROW_ASSIGN_OR_RAISE(auto on, StartBenchServer(db_path + ".metrics_on"));
  ARROW_ASSIGN_OR_RAISE(auto off, StartBenchServer(db_path + ".metrics_off", {}, false));
  ARROW_ASSIGN_OR_RAISE(auto to_on, FlightConnection::Connect(on->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(auto to_off, FlightConnection::Connect(off->flight_uri()));
  FlightConnection* clients[2] = {to_on.get(), to_off.get()};
  auto put = [&](FlightConnection* client, const std::shared_ptr<arrow::Table>& data,
                 const char* command) {
    return [client, data, command]() {
      return client->Put(command, std::make_shared<arrow::TableBatchReader>(data)).status();
    };
  };

  // The bulk ingest: best of `repeat` for each, alternating which goes first.
  double best[2] = {1e300, 1e300};
  for (int run = 0; run < options.repeat; ++run) {
    for (int k = 0; k < 2; ++k) {
      const int which = (run + k) % 2;
      ARROW_ASSIGN_OR_RAISE(
          const double s,
          SecondsOf(put(clients[which], table, R"({"stream": "bench", "mode": "replace"})")));
      best[which] = std::min(best[which], s);
    }
  }
  // Small requests, where a per-request cost would show most: interleaved one by one.
  std::vector<double> ms[2];
  for (int i = 0; i < kSmallRequests; ++i) {
    for (int which = 0; which < 2; ++which) {
      ARROW_ASSIGN_OR_RAISE(const double s,
                            SecondsOf(put(clients[which], small, R"({"stream": "rt"})")));
      ms[which].push_back(1000 * s);
    }
  }
  to_on.reset();
  to_off.reset();
  ARROW_RETURN_NOT_OK(on->Shutdown());
  ARROW_RETURN_NOT_OK(off->Shutdown());
  RemoveDatabaseFiles(db_path + ".metrics_on");
  RemoveDatabaseFiles(db_path + ".metrics_off");

  std::printf("\n| the cost of metrics (5 columns, Flight DoPut, two servers in this process, "
              "runs alternating) | metrics on | metrics off | on vs off |\n");
  std::printf("|---|---:|---:|---:|\n");
  std::printf("| %lld rows, best of %d (rows/s) | %.2f M | %.2f M | %.3f x |\n",
              static_cast<long long>(rows), options.repeat, rows / best[0] / 1e6,
              rows / best[1] / 1e6, best[1] / best[0]);
  const double median_on = Median(ms[0]), median_off = Median(ms[1]);
  std::printf("| 1,000-row request round trip, median of %d | %.3f ms | %.3f ms | %+.3f ms |\n",
              kSmallRequests, median_on, median_off, median_on - median_off);
  std::fflush(stdout);
  return arrow::Status::OK();
}

}  // namespace arrowport::bench
