// arrowport bench: concurrent producers on one table.
#include <arrow/flight/api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/generate.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/ingest/validating_reader.h"
#include "arrowport/query/query_pipeline.h"

namespace arrowport::bench {

arrow::Status BenchConcurrency(const BenchOptions& options, const std::string& db_path) {
  const int64_t rows = options.rows.empty() ? 1'000'000 : options.rows.front();
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, false));
  ARROW_ASSIGN_OR_RAISE(auto srv, StartBenchServer(db_path));

  ARROW_ASSIGN_OR_RAISE(auto one, ConnectDataClient(srv->flight_uri()));
  // Ceiling for this table, through a single in-process producer of the same server.
  ARROW_ASSIGN_OR_RAISE(double single, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
    auto reader = std::make_shared<arrow::TableBatchReader>(table);
    ARROW_RETURN_NOT_OK(one->Put(R"({"stream": "conc", "mode": "replace"})", reader).status());
    return rows;
  }));
  std::printf("\n| concurrent producers (Flight DoPut, 5 columns) | rows | rows/s | vs 1 producer |\n");
  std::printf("|---|---:|---:|---:|\n");
  std::printf("| 1 producer | %lld | %.2f M | 1.00 x |\n", static_cast<long long>(rows),
              rows / single / 1e6);
  for (int producers : {4, 16}) {
    ARROW_ASSIGN_OR_RAISE(double seconds, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
      std::vector<std::thread> threads;
      std::vector<arrow::Status> statuses(producers);
      const int64_t share = rows / producers;
      for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
          statuses[p] = [&]() -> arrow::Status {
            ARROW_ASSIGN_OR_RAISE(auto client, ConnectDataClient(srv->flight_uri()));
            const int64_t length = p == producers - 1 ? rows - share * p : share;
            auto part = table->Slice(share * p, length);
            auto reader = std::make_shared<arrow::TableBatchReader>(part);
            return client->Put(R"({"stream": "conc"})", reader).status();
          }();
        });
      }
      for (auto& t : threads) t.join();
      for (const auto& st : statuses) ARROW_RETURN_NOT_OK(st);
      return rows;
    }));
    std::printf("| %d producers, one table | %lld | %.2f M | %.2f x |\n", producers,
                static_cast<long long>(rows), rows / seconds / 1e6, single / seconds);
  }

  std::fflush(stdout);
  return srv->Shutdown();
}

}  // namespace arrowport::bench
