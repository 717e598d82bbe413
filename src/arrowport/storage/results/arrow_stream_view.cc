#include "arrowport/storage/results/arrow_stream_view.h"

#include <duckdb/common/error_data.hpp>
#include <duckdb/common/exception.hpp>
#include <duckdb/function/table/arrow.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/main/relation/table_function_relation.hpp>

#include <atomic>
#include <exception>

#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_internals.h"

namespace arrowport::storage {

namespace {

void KeepStream(ArrowArrayStream* stream) { stream->release = nullptr; }

// DuckDB asks a scan's factory for a stream each time a scan starts (its
// ArrowScanInitGlobal): the first gets the caller's stream, any later one fails its
// query. DuckDB may start scans of one plan from several threads.
class SingleScanFactory : public duckdb::ArrowScanFactory {
 public:
  SingleScanFactory(ArrowArrayStream* stream, std::string second_scan_error)
      : stream_(stream), second_scan_error_(std::move(second_scan_error)) {}

  void GetSchema(ArrowSchema& schema) override {
    if (stream_->get_schema(stream_, &schema) != 0) {
      const char* why = stream_->get_last_error(stream_);
      throw duckdb::IOException(std::string("cannot read the Arrow stream's schema: ") +
                                (why != nullptr ? why : "unknown error"));
    }
  }

  duckdb::unique_ptr<duckdb::ArrowArrayStreamWrapper> ProduceStream(
      duckdb::ArrowStreamParameters& /*parameters*/) override {
    if (scanned_.exchange(true)) throw duckdb::InvalidInputException(second_scan_error_);
    auto wrapper = duckdb::make_uniq<duckdb::ArrowArrayStreamWrapper>();
    wrapper->arrow_array_stream = *stream_;
    // The scan borrows the stream: the caller releases it after the view is dropped.
    wrapper->arrow_array_stream.release = &KeepStream;
    return wrapper;
  }

 private:
  ArrowArrayStream* stream_;
  std::string second_scan_error_;
  std::atomic<bool> scanned_{false};
};

}  // namespace

arrow::Status CreateSingleScanView(duckdb_connection connection, const std::string& name,
                                   ArrowArrayStream* stream,
                                   const std::string& second_scan_error) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  try {
    auto factory = duckdb::make_shared_ptr<SingleScanFactory>(stream, second_scan_error);
    auto scan = duckdb::make_shared_ptr<duckdb::TableFunctionRelation>(
        context->shared_from_this(), "arrow_scan", duckdb::vector<duckdb::Value>{},
        duckdb::named_parameter_map_t{}, nullptr, /*auto_init=*/true, std::move(factory));
    scan->CreateView(duckdb::Identifier(name), /*replace=*/true, /*temporary=*/false);
  } catch (const std::exception& e) {
    duckdb::ErrorData error(e);
    return TranslateDuckDBError(static_cast<int>(error.Type()), error.Message());
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
