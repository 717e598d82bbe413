#include "arrowport/bench/bench_support.h"

#include <httplib.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "arrow/io/memory.h"
#include "arrow/ipc/writer.h"
#include "arrow/util/base64.h"
#include "parquet/file_reader.h"
#include "parquet/metadata.h"
#include "arrowport/http/tls_context.h"

namespace arrowport::bench {

namespace fl = arrow::flight;

arrow::Result<std::unique_ptr<InMemoryFlightServer>> InMemoryFlightServer::Start(
    std::shared_ptr<arrow::Table> table, const config::Config::Tls& tls) {
  auto server = std::make_unique<InMemoryFlightServer>(std::move(table));
  server->tls_ = !tls.cert.empty();
  ARROW_ASSIGN_OR_RAISE(auto location, server->tls_
                                           ? fl::Location::ForGrpcTls("127.0.0.1", 0)
                                           : fl::Location::ForGrpcTcp("127.0.0.1", 0));
  fl::FlightServerOptions options(location);
  if (server->tls_) {
    ARROW_ASSIGN_OR_RAISE(auto identity, http::TlsContext::Make(tls));
    options.tls_certificates.push_back({identity->cert_pem(), identity->key_pem()});
  }
  ARROW_RETURN_NOT_OK(server->Init(options));
  return server;
}

arrow::Status InMemoryFlightServer::GetFlightInfo(const fl::ServerCallContext&,
                                                  const fl::FlightDescriptor& descriptor,
                                                  std::unique_ptr<fl::FlightInfo>* info) {
  fl::FlightEndpoint endpoint;
  endpoint.ticket.ticket = descriptor.cmd;
  ARROW_ASSIGN_OR_RAISE(auto made, fl::FlightInfo::Make(*table_->schema(), descriptor,
                                                        {endpoint}, table_->num_rows(), -1));
  *info = std::make_unique<fl::FlightInfo>(std::move(made));
  return arrow::Status::OK();
}

arrow::Status InMemoryFlightServer::DoGet(const fl::ServerCallContext&, const fl::Ticket&,
                                          std::unique_ptr<fl::FlightDataStream>* stream) {
  auto reader = std::make_shared<arrow::TableBatchReader>(table_);
  *stream = std::make_unique<fl::RecordBatchStream>(reader);
  return arrow::Status::OK();
}

arrow::Status InMemoryFlightServer::DoPut(const fl::ServerCallContext&,
                                          std::unique_ptr<fl::FlightMessageReader> reader,
                                          std::unique_ptr<fl::FlightMetadataWriter>) {
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
    if (!chunk.data) break;
  }
  return arrow::Status::OK();
}

void RemoveDatabaseFiles(const std::string& path) {
  if (path == ":memory:") return;
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::filesystem::remove(path + ".wal", ignored);
}

arrow::Result<std::unique_ptr<CeilingDatabase>> CeilingDatabase::Open(const std::string& db_path,
                                                                      int threads) {
  auto ceiling = std::make_unique<CeilingDatabase>();
  ceiling->path = db_path + ".ceiling";
  RemoveDatabaseFiles(ceiling->path);
  storage::DatabaseOptions options;
  options.path = ceiling->path;
  options.threads = threads;
  ARROW_ASSIGN_OR_RAISE(ceiling->database, storage::Database::Open(options));
  return ceiling;
}

CeilingDatabase::~CeilingDatabase() {
  database.reset();
  RemoveDatabaseFiles(path);
}

arrow::Result<double> SecondsOf(const std::function<arrow::Status()>& run) {
  const auto start = std::chrono::steady_clock::now();
  ARROW_RETURN_NOT_OK(run());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

arrow::Result<double> SettledCpuSeconds(const CpuClock& cpu) {
  constexpr auto kInterval = std::chrono::milliseconds(50);
  constexpr double kQuietSeconds = 0.002;  // 4% of a core over the interval
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  ARROW_ASSIGN_OR_RAISE(double last, cpu());
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kInterval);
    ARROW_ASSIGN_OR_RAISE(const double now, cpu());
    if (now - last < kQuietSeconds) return now;
    last = now;
  }
  return last;
}

void LetWritesLand() { ::sync(); }

arrow::Result<Timing> BestRun(int repeat, int64_t rows, const CpuClock& cpu,
                              const std::function<arrow::Result<int64_t>()>& run) {
  Timing best{1e300, 1e300};
  for (int i = 0; i < repeat; ++i) {
    int64_t moved = 0;
    double cpu_before = 0, cpu_after = 0;
    if (cpu) {
      ARROW_ASSIGN_OR_RAISE(cpu_before, SettledCpuSeconds(cpu));
    }
    ARROW_ASSIGN_OR_RAISE(const double s, SecondsOf([&]() -> arrow::Status {
                            ARROW_ASSIGN_OR_RAISE(moved, run());
                            return arrow::Status::OK();
                          }));
    if (cpu) {
      ARROW_ASSIGN_OR_RAISE(cpu_after, SettledCpuSeconds(cpu));
    }
    if (moved != rows) {
      return arrow::Status::Invalid("benchmark moved ", moved, " rows, expected ", rows);
    }
    best.seconds = std::min(best.seconds, s);
    best.cpu_seconds = std::min(best.cpu_seconds, cpu_after - cpu_before);
  }
  return best;
}

arrow::Result<double> BestSeconds(int repeat, int64_t rows,
                                  const std::function<arrow::Result<int64_t>()>& run) {
  ARROW_ASSIGN_OR_RAISE(const Timing timing, BestRun(repeat, rows, nullptr, run));
  return timing.seconds;
}

arrow::Result<std::string> SeedJsonBody(const arrow::Table& table) {
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, table.schema()));
  ARROW_RETURN_NOT_OK(writer->WriteTable(table));
  ARROW_RETURN_NOT_OK(writer->Close());
  ARROW_ASSIGN_OR_RAISE(auto bytes, sink->Finish());
  const std::string data = arrow::util::base64_encode(bytes->ToString());
  return R"({"config": {"target_table": "bench_seed"}, "batch": {"data": ")" + data + "\"}}";
}

arrow::Result<int64_t> PostSeedJson(const std::string& url, const std::string& body) {
  httplib::Client client(url);
  client.set_read_timeout(std::chrono::minutes(10));
  auto result = client.Post("/stream/bench_seed", body, "application/json");
  if (!result || result->status != 200) {
    return arrow::Status::IOError("seed endpoint failed: ",
                                  result ? result->body : httplib::to_string(result.error()));
  }
  auto pos = result->body.find("\"rows_processed\":");
  if (pos == std::string::npos) return arrow::Status::IOError("unexpected seed reply");
  return std::stoll(result->body.substr(pos + 17));
}

arrow::Result<int64_t> DownloadRows(const std::string& url, const std::string& table,
                                    const std::string& format) {
  httplib::Client client(url);
  client.set_read_timeout(std::chrono::minutes(10));
  std::string body;  // a Parquet file is read from memory, as clients read downloads
  int64_t lines = 0;
  auto result = client.Get("/tables/" + table + "?format=" + format,
                           httplib::Headers{{"Accept-Encoding", "identity"}},
                           [&](const char* data, size_t length) {
                             if (format == "csv") {
                               lines += std::count(data, data + length, '\n');
                             } else {
                               body.append(data, length);
                             }
                             return true;
                           });
  if (!result || result->status != 200) {
    return arrow::Status::IOError("GET /tables/", table, "?format=", format, " failed: ",
                                  result ? std::to_string(result->status)
                                         : httplib::to_string(result.error()));
  }
  if (format == "csv") return lines - 1;
  try {
    auto file = parquet::ParquetFileReader::Open(
        std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(std::move(body))));
    return file->metadata()->num_rows();
  } catch (const std::exception& e) {
    return arrow::Status::IOError("the Parquet download does not read back: ", e.what());
  }
}

arrow::Result<int64_t> Drain(arrow::RecordBatchReader* reader) {
  int64_t rows = 0;
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (!batch) break;
    rows += batch->num_rows();
  }
  return rows;
}

server::ServerSetup BenchServerSetup(const std::string& db_path) {
  RemoveDatabaseFiles(db_path);
  server::ServerSetup setup;
  setup.config.db_path = db_path;
  setup.config.flight.port = 0;
  setup.config.http.port = 0;
  setup.config.log_level = "warn";
  return setup;
}

arrow::Result<std::unique_ptr<server::Server>> StartBenchServer(
    const std::string& db_path, std::vector<std::string> allowed_peers, bool metrics,
    int threads, const config::Config::Tls& tls) {
  server::ServerSetup setup = BenchServerSetup(db_path);
  setup.config.transfer.allowed_peers = std::move(allowed_peers);
  setup.config.metrics.enabled = metrics;
  setup.config.duckdb_threads = threads;
  setup.config.tls = tls;
  return server::Server::Start(setup);
}

std::string ThreadsLabel(int threads) {
  return threads <= 0 ? "all" : std::to_string(threads);
}

}  // namespace arrowport::bench
