#include "arrowport/storage/results/result_sources.h"

#include <duckdb/common/arrow/arrow_converter.hpp>
#include <duckdb/common/error_data.hpp>
#include <duckdb/common/string_util.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/prepared_statement.hpp>
#include <duckdb/parser/parser.hpp>
#include <duckdb/parser/statement/multi_statement.hpp>
#include <duckdb/main/query_parameters.hpp>
#include <duckdb/main/query_result_stream.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "arrow/c/bridge.h"
#include "arrowport/storage/results/arrow_unit_format.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/quiet_execution.h"
#include "arrowport/storage/results/statement_binding.h"

namespace arrowport::storage {

namespace {

// DuckDB's C API error types are its exception types' numbers (what TranslateDuckDBError reads).
static_assert(static_cast<int>(duckdb::ExceptionType::INVALID) == DUCKDB_ERROR_INVALID);
static_assert(static_cast<int>(duckdb::ExceptionType::INTERRUPT) == DUCKDB_ERROR_INTERRUPT);
static_assert(static_cast<int>(duckdb::ExceptionType::OUT_OF_MEMORY) ==
              DUCKDB_ERROR_OUT_OF_MEMORY);
static_assert(static_cast<int>(duckdb::ExceptionType::TRANSACTION) == DUCKDB_ERROR_TRANSACTION);
static_assert(static_cast<int>(duckdb::ExceptionType::CATALOG) == DUCKDB_ERROR_CATALOG);

arrow::Status FromDuckDBError(const duckdb::ErrorData& error) {
  return TranslateDuckDBError(static_cast<int>(error.Type()), error.Message());
}

class ChunkResultSource : public ResultSource {
 public:
  ChunkResultSource(ResultHandle result, ArrowOptionsHandle options,
                    std::shared_ptr<arrow::Schema> schema)
      : result_(std::move(result)), options_(std::move(options)), schema_(std::move(schema)) {}

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    while (true) {
      DataChunkHandle chunk(duckdb_fetch_chunk(*result_.ptr()));
      if (chunk.get() == nullptr) {
        const char* error = duckdb_result_error(result_.ptr());
        if (error != nullptr) {
          return TranslateDuckDBError(duckdb_result_error_type(result_.ptr()), error);
        }
        return nullptr;
      }
      if (duckdb_data_chunk_get_size(chunk.get()) == 0) continue;
      try {
        RefuseUhugeintsBeyondArrow(*reinterpret_cast<duckdb::DataChunk*>(chunk.get()));
      } catch (const std::exception& e) {
        return FromDuckDBError(duckdb::ErrorData(e));
      }
      ArrowArray array;
      ARROW_RETURN_NOT_OK(
          ConsumeErrorData(duckdb_data_chunk_to_arrow(options_.get(), chunk.get(), &array)));
      return arrow::ImportRecordBatch(&array, schema_);
    }
  }

  bool pieces_are_chunks() const override { return true; }
  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

 private:
  ResultHandle result_;
  ArrowOptionsHandle options_;
  std::shared_ptr<arrow::Schema> schema_;
};

// A reader's wait between polls of a stream whose tasks DuckDB's workers all hold: sleeps
// of at most 50 us, a small part of the time a worker takes to convert a full unit (a
// longer cap, 1 ms, left the workers parked on a full buffer: a fast reader lost a fifth
// of its rate).
constexpr std::chrono::microseconds kLongestUnitWait{50};

class ArrowUnitResultSource : public ResultSource {
 public:
  ArrowUnitResultSource(std::shared_ptr<void> statement,
                        std::unique_ptr<duckdb::QueryResultStream<ArrowUnitFormat>> stream,
                        std::shared_ptr<arrow::Schema> schema, bool duckdb_has_workers)
      : statement_(std::move(statement)),
        stream_(std::move(stream)),
        schema_(std::move(schema)),
        duckdb_has_workers_(duckdb_has_workers) {}

  ~ArrowUnitResultSource() override {
    try {
      stream_->Close();
    } catch (...) {
      // Closing an ended or failed stream has nothing left to report.
    }
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    while (true) {
      std::unique_ptr<duckdb::ArrowArrayWrapper> unit;
      try {
        unit = NextUnit();
      } catch (const std::exception& e) {
        return FromDuckDBError(duckdb::ErrorData(e));
      }
      if (unit == nullptr) {
        if (stream_->HasError()) return FromDuckDBError(stream_->GetErrorObject());
        return nullptr;
      }
      if (unit->arrow_array.length == 0) continue;
      ArrowArray array;
      unit->MoveTo(array);
      return arrow::ImportRecordBatch(&array, schema_);
    }
  }

  bool pieces_are_chunks() const override { return false; }
  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

 private:
  // The next unit, or null at the end or on an error (recorded on the stream). DuckDB's
  // Fetch() runs tasks on the calling thread until its buffer is replenished, and while
  // its workers hold every task it polls the scheduler in a loop, under its locks: a third
  // of a two-thread read's CPU, on the core the sender and the client need. This is that
  // loop with a back-off where DuckDB spins.
  duckdb::unique_ptr<duckdb::ArrowArrayWrapper> NextUnit() {
    // Without workers every task runs here, and DuckDB's loop never waits on one (and
    // measured faster there: 21 vs 14 M rows/s in process).
    if (!duckdb_has_workers_) return stream_->Fetch();
    IdleBackoff idle(kLongestUnitWait);
    while (true) {
      // Restarts the workers parked on a full buffer once it has room and runs a waiting
      // task here, as Fetch() does; with a unit already queued it returns at once.
      const auto ran = stream_->ExecuteTask();
      if (ran == duckdb::QueryResultState::EXECUTION_ERROR) return nullptr;
      duckdb::unique_ptr<duckdb::ArrowArrayWrapper> unit;
      const auto state = stream_->TryFetch(unit);
      if (unit != nullptr || duckdb::IsTerminal(state)) return unit;
      switch (ran) {
        case duckdb::QueryResultState::NOT_READY:
          idle.Reset();  // a task ran here: try again at once
          break;
        case duckdb::QueryResultState::BLOCKED:
          stream_->WaitForTask();  // every task waits on something else: DuckDB's own wait
          break;
        default:
          // The workers hold every task, or DuckDB said ready and no unit came: never spin.
          idle.Wait();
          break;
      }
    }
  }

  std::shared_ptr<void> statement_;  // the prepared statement, kept until the stream ends
  // Declared after statement_: closed before the statement it runs is freed.
  std::unique_ptr<duckdb::QueryResultStream<ArrowUnitFormat>> stream_;
  std::shared_ptr<arrow::Schema> schema_;
  const bool duckdb_has_workers_;
};

duckdb::PreparedStatement* StatementOf(duckdb_prepared_statement prepared) {
  auto* wrapper = reinterpret_cast<duckdb::PreparedStatementWrapper*>(prepared);
  if (wrapper == nullptr || !wrapper->statement || wrapper->statement->HasError()) {
    return nullptr;
  }
  return wrapper->statement.get();
}

}  // namespace

arrow::Result<std::unique_ptr<ResultSource>> ChunkSource(ResultHandle result) {
  const idx_t n = duckdb_column_count(result.ptr());
  std::vector<LogicalTypeHandle> types;
  std::vector<std::string> names;
  for (idx_t i = 0; i < n; ++i) {
    types.emplace_back(duckdb_column_logical_type(result.ptr(), i));
    names.emplace_back(duckdb_column_name(result.ptr(), i));
  }
  ArrowOptionsHandle arrow_options(duckdb_result_get_arrow_options(result.ptr()));
  ARROW_ASSIGN_OR_RAISE(auto schema, ArrowSchemaOf(arrow_options.get(), types, names));
  return std::make_unique<ChunkResultSource>(std::move(result), std::move(arrow_options),
                                             std::move(schema));
}

bool StreamsArrowUnits(duckdb_prepared_statement prepared) {
  duckdb::PreparedStatement* statement = StatementOf(prepared);
  // A statement that expands into several is known only once it runs: the chunk source.
  return statement != nullptr && statement->MetadataAvailable() &&
         statement->GetStatementType() == duckdb::StatementType::SELECT_STATEMENT;
}

bool ColumnsKnownOnlyAtRun(duckdb_prepared_statement prepared, const std::string& sql) {
  duckdb::PreparedStatement* statement = StatementOf(prepared);
  if (statement == nullptr || statement->MetadataAvailable()) return false;
  // DuckDB holds what it expands as one statement of several; the text says what the
  // client wrote (a CREATE TABLE ... AS PIVOT returns no rows: it runs as a statement).
  auto context = statement->TryGetContext();
  if (!context) return false;
  try {
    duckdb::Parser parser(*context);
    parser.ParseQuery(sql);
    // Its parse is already the steps (a SELECT typed only by its parameters is held
    // unplanned too, and runs as one statement).
    if (parser.statements.size() != 1 ||
        parser.statements[0]->type != duckdb::StatementType::MULTI_STATEMENT) {
      return false;
    }
    const auto& steps = parser.statements[0]->Cast<duckdb::MultiStatement>().statements;
    return !steps.empty() && steps.back()->type == duckdb::StatementType::SELECT_STATEMENT;
  } catch (const std::exception&) {
    return false;
  }
}

bool ChangesStoredData(duckdb_prepared_statement prepared) {
  duckdb::PreparedStatement* statement = StatementOf(prepared);
  if (statement == nullptr) return false;
  // Bound only as it runs (a parameter of no type yet, a PIVOT that expands into several
  // statements): what it changes is not known before, so it is taken as a write
  // (`SELECT nextval($1)` committed into a deleted file).
  if (!statement->MetadataAvailable()) return true;
  for (const auto& [database, modification] :
       statement->GetStatementProperties().modified_databases) {
    const std::string& name = database.GetIdentifierName();
    if (!duckdb::StringUtil::CIEquals(name, "temp") &&
        !duckdb::StringUtil::CIEquals(name, "system")) {
      return true;
    }
  }
  return false;
}

bool ChangesData(duckdb_prepared_statement prepared) {
  duckdb::PreparedStatement* statement = StatementOf(prepared);
  return statement != nullptr && !statement->GetStatementProperties().IsReadOnly();
}

arrow::Result<std::unique_ptr<ResultSource>> ArrowUnitSource(
    duckdb_prepared_statement prepared, std::shared_ptr<void> statement_owner,
    int64_t batch_rows, int64_t max_piece_bytes, bool duckdb_has_workers) {
  duckdb::PreparedStatement* statement = StatementOf(prepared);
  if (statement == nullptr) return arrow::Status::Invalid("the statement did not prepare");
  auto* wrapper = reinterpret_cast<duckdb::PreparedStatementWrapper*>(prepared);
  try {
    auto format = duckdb::make_shared_ptr<ArrowUnitFormat>(
        static_cast<duckdb::idx_t>(std::max<int64_t>(batch_rows, 1)),
        static_cast<duckdb::idx_t>(std::max<int64_t>(max_piece_bytes, 1)));
    auto result = statement->Submit(wrapper->values,
                                    duckdb::QueryParameters(std::move(format)));
    if (!result) return arrow::Status::Invalid("DuckDB returned no result");
    if (result->HasError()) return FromDuckDBError(result->GetErrorObject());
    auto stream =
        std::make_unique<duckdb::QueryResultStream<ArrowUnitFormat>>(std::move(result));
    // The schema DuckDB's workers convert to: the result's types under its properties.
    duckdb::vector<std::string> names;
    for (const auto& name : stream->GetNames()) names.push_back(name.GetIdentifierName());
    ArrowSchema c_schema;
    duckdb::ArrowConverter::ToArrowSchema(&c_schema, stream->GetTypes(), names,
                                          stream->GetClientProperties());
    ARROW_ASSIGN_OR_RAISE(auto schema, arrow::ImportSchema(&c_schema));
    auto source = std::make_unique<ArrowUnitResultSource>(
        std::move(statement_owner), std::move(stream), std::move(schema),
        duckdb_has_workers);
    return source;
  } catch (const std::exception& e) {
    return FromDuckDBError(duckdb::ErrorData(e));
  }
}

}  // namespace arrowport::storage
