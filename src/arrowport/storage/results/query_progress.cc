#include "arrowport/storage/results/query_progress.h"

#include <duckdb/main/client_config.hpp>
#include <duckdb/main/client_context.hpp>

#include "arrowport/common/call_context.h"
#include "arrowport/storage/core/duckdb_internals.h"

namespace arrowport::storage {

namespace {

// DuckDB computes a query's progress only with its progress bar on (a setting of the
// connection, read when the query starts); on for the queries a client watches only, and
// never printed.
class ProgressReport {
 public:
  ProgressReport(duckdb_connection conn, duckdb::ClientContext* context,
                 std::shared_ptr<CallProgress> progress)
      : context_(context), progress_(std::move(progress)) {
    auto& config = duckdb::ClientConfig::GetConfig(*context_);
    was_enabled_ = config.enable_progress_bar;
    was_printed_ = config.print_progress_bar;
    config.enable_progress_bar = true;
    config.print_progress_bar = false;
    // DuckDB updates the figures as its tasks run, on any thread; reading them is a copy
    // of three atomics.
    progress_->SetQueryProbe([conn] { return duckdb_query_progress(conn).percentage; });
  }
  ~ProgressReport() {
    progress_->SetQueryProbe(nullptr);  // before the connection serves anything else
    auto& config = duckdb::ClientConfig::GetConfig(*context_);
    config.enable_progress_bar = was_enabled_;
    config.print_progress_bar = was_printed_;
  }
  ProgressReport(const ProgressReport&) = delete;
  ProgressReport& operator=(const ProgressReport&) = delete;

 private:
  duckdb::ClientContext* context_;
  std::shared_ptr<CallProgress> progress_;
  bool was_enabled_ = false;  // the connection's settings before, put back after
  bool was_printed_ = false;
};

}  // namespace

std::shared_ptr<void> ReportQueryProgress(duckdb_connection conn,
                                          const std::shared_ptr<CallProgress>& progress,
                                          bool cpp_api) {
  if (progress == nullptr || !cpp_api) return nullptr;
  duckdb::ClientContext* context = ClientContextOf(conn);
  if (context == nullptr) return nullptr;
  return std::make_shared<ProgressReport>(conn, context, progress);
}

}  // namespace arrowport::storage
