#include "arrowport/bench/duckdb_ceilings.h"

#include <duckdb.h>

#include <duckdb.hpp>
#include <duckdb/common/arrow/arrow_format.hpp>
#include <duckdb/main/capi/capi_internal.hpp>

#include <vector>

#include "arrow/c/bridge.h"
#include "arrowport/common/schema_owning_stream.h"

namespace arrowport::bench {

struct DuckDBOnly::Impl {
  duckdb_database database = nullptr;
  duckdb_connection connection = nullptr;
  std::unique_ptr<duckdb::Connection> cpp_connection;  // the same database, C++ API
  std::string catalog;  // the database's own catalog (named after its file)

  ~Impl() {
    cpp_connection.reset();
    if (connection != nullptr) duckdb_disconnect(&connection);
    if (database != nullptr) duckdb_close(&database);
  }

  arrow::Status Run(const std::string& sql) {
    duckdb_result result;
    const bool failed = duckdb_query(connection, sql.c_str(), &result) == DuckDBError;
    std::string error = failed && duckdb_result_error(&result) ? duckdb_result_error(&result) : "";
    duckdb_destroy_result(&result);
    if (failed) return arrow::Status::IOError("DuckDB: ", sql, ": ", error);
    return arrow::Status::OK();
  }
};

DuckDBOnly::DuckDBOnly(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DuckDBOnly::~DuckDBOnly() = default;

arrow::Result<std::unique_ptr<DuckDBOnly>> DuckDBOnly::Open(const std::string& path,
                                                            int threads,
                                                            bool unsigned_extensions) {
  auto impl = std::make_unique<Impl>();
  char* error = nullptr;
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) == DuckDBError) {
    return arrow::Status::IOError("DuckDB: cannot create a configuration");
  }
  if (unsigned_extensions) duckdb_set_config(config, "allow_unsigned_extensions", "true");
  const bool failed = duckdb_open_ext(path.c_str(), &impl->database, config, &error) == DuckDBError;
  duckdb_destroy_config(&config);
  if (failed) {
    std::string message = error ? error : "cannot open";
    duckdb_free(error);
    return arrow::Status::IOError("DuckDB: ", path, ": ", message);
  }
  if (duckdb_connect(impl->database, &impl->connection) == DuckDBError) {
    return arrow::Status::IOError("DuckDB: cannot connect to ", path);
  }
  try {
    auto* wrapper = reinterpret_cast<duckdb::DatabaseWrapper*>(impl->database);
    impl->cpp_connection = std::make_unique<duckdb::Connection>(*wrapper->database);
  } catch (const std::exception& e) {
    return arrow::Status::IOError("DuckDB: ", e.what());
  }
  duckdb_result result;
  if (duckdb_query(impl->connection, "SELECT current_database()", &result) == DuckDBError) {
    duckdb_destroy_result(&result);
    return arrow::Status::IOError("DuckDB: cannot name the catalog of ", path);
  }
  char* name = duckdb_value_varchar(&result, 0, 0);
  impl->catalog = name ? name : "";
  duckdb_free(name);
  duckdb_destroy_result(&result);
  std::unique_ptr<DuckDBOnly> db(new DuckDBOnly(std::move(impl)));
  // DuckDB 2.0 registers an Arrow scan's view only in an in-memory catalog.
  ARROW_RETURN_NOT_OK(db->impl_->Run("ATTACH ':memory:' AS arrow_sources"));
  ARROW_RETURN_NOT_OK(db->SetThreads(threads));
  return db;
}

arrow::Status DuckDBOnly::Run(const std::string& sql) { return impl_->Run(sql); }

arrow::Status DuckDBOnly::SetThreads(int threads) {
  if (threads <= 0) return impl_->Run("RESET threads");
  return impl_->Run("SET threads = " + std::to_string(threads));
}

arrow::Status DuckDBOnly::RunOnStream(const std::string& name,
                                       std::shared_ptr<arrow::RecordBatchReader> batches,
                                       const std::string& sql) {
  // DuckDB's scan asks for the schema more than once and does not release every copy:
  // the stream keeps them (as the server's own streams do), else each scan leaks them.
  ArrowArrayStream stream;
  ARROW_RETURN_NOT_OK(ExportSchemaOwningStream(std::move(batches), &stream));
  std::string view = "source_of_" + name;  // a plain name, whichever catalog `name` is in
  for (char& c : view) {
    if (c == '.') c = '_';
  }
  const std::string quoted_catalog = "\"" + impl_->catalog + "\"";
  arrow::Status status = impl_->Run("USE arrow_sources");
  const bool scanned =
      status.ok() && duckdb_arrow_scan(impl_->connection, view.c_str(),
                                       reinterpret_cast<duckdb_arrow_stream>(&stream)) !=
                         DuckDBError;
  if (status.ok()) status = impl_->Run("USE " + quoted_catalog);
  if (status.ok() && !scanned) status = arrow::Status::IOError("DuckDB: cannot scan the stream");
  if (status.ok()) {
    std::string statement = sql;
    const std::string placeholder = "{source}";
    statement.replace(statement.find(placeholder), placeholder.size(),
                      "arrow_sources.main." + view);
    status = impl_->Run(statement);
  }
  if (scanned) (void)impl_->Run("DROP VIEW IF EXISTS arrow_sources.main." + view);
  if (stream.release != nullptr) stream.release(&stream);
  return status;
}

arrow::Result<int64_t> DuckDBOnly::CreateTableAs(
    const std::string& table, std::shared_ptr<arrow::RecordBatchReader> batches) {
  ARROW_RETURN_NOT_OK(RunOnStream(table, std::move(batches),
                                  "CREATE OR REPLACE TABLE " + table +
                                      " AS SELECT * FROM {source}"));
  ARROW_RETURN_NOT_OK(impl_->Run("CHECKPOINT"));
  duckdb_result result;
  if (duckdb_query(impl_->connection, ("SELECT count(*) FROM " + table).c_str(), &result) ==
      DuckDBError) {
    duckdb_destroy_result(&result);
    return arrow::Status::IOError("DuckDB: cannot count ", table);
  }
  const int64_t rows = duckdb_value_int64(&result, 0, 0);
  duckdb_destroy_result(&result);
  return rows;
}

arrow::Status DuckDBOnly::CopyToParquet(std::shared_ptr<arrow::RecordBatchReader> batches,
                                        const std::string& path,
                                        const std::string& compression) {
  std::string quoted_path = "'";
  for (char c : path) quoted_path += c == '\'' ? std::string("''") : std::string(1, c);
  quoted_path += "'";
  return RunOnStream("copy", std::move(batches),
                     "COPY (SELECT * FROM {source}) TO " + quoted_path +
                         " (FORMAT parquet, COMPRESSION " + compression + ")");
}

arrow::Status DuckDBOnly::AppendCommitted(const std::string& table,
                                          const arrow::RecordBatch& batch) {
  auto error = [](duckdb_error_data data) {
    std::string message = duckdb_error_data_message(data);
    duckdb_destroy_error_data(&data);
    return arrow::Status::IOError("DuckDB: ", message);
  };
  ArrowSchema c_schema;
  ARROW_RETURN_NOT_OK(arrow::ExportSchema(*batch.schema(), &c_schema));
  duckdb_arrow_converted_schema converted = nullptr;
  duckdb_error_data failed = duckdb_schema_from_arrow(impl_->connection, &c_schema, &converted);
  if (c_schema.release != nullptr) c_schema.release(&c_schema);
  if (failed != nullptr) return error(failed);
  std::vector<duckdb_data_chunk> chunks;
  auto release = [&]() {
    for (auto& chunk : chunks) duckdb_destroy_data_chunk(&chunk);
    duckdb_destroy_arrow_converted_schema(&converted);
  };
  constexpr int64_t kChunkRows = 2048;
  for (int64_t offset = 0; offset < batch.num_rows(); offset += kChunkRows) {
    ArrowArray c_array;
    auto exported = arrow::ExportRecordBatch(*batch.Slice(offset, kChunkRows), &c_array);
    if (!exported.ok()) {
      release();
      return exported;
    }
    duckdb_data_chunk chunk = nullptr;
    failed = duckdb_data_chunk_from_arrow(impl_->connection, &c_array, converted, &chunk);
    if (c_array.release != nullptr) c_array.release(&c_array);
    if (failed != nullptr) {
      release();
      return error(failed);
    }
    chunks.push_back(chunk);
  }
  duckdb_appender appender = nullptr;
  arrow::Status status;
  if (duckdb_appender_create(impl_->connection, nullptr, table.c_str(), &appender) ==
      DuckDBError) {
    status = arrow::Status::IOError("DuckDB: cannot append to ", table);
  }
  auto appender_error = [&appender]() {
    const char* message = duckdb_appender_error(appender);
    return arrow::Status::IOError("DuckDB: ", message != nullptr ? message : "append failed");
  };
  for (auto chunk : chunks) {
    if (status.ok() && duckdb_append_data_chunk(appender, chunk) == DuckDBError) {
      status = appender_error();
    }
  }
  if (status.ok() && duckdb_appender_close(appender) == DuckDBError) status = appender_error();
  if (appender != nullptr) duckdb_appender_destroy(&appender);
  release();
  return status;
}

arrow::Result<int64_t> DuckDBOnly::ExportArrow(const std::string& sql, int64_t batch_rows) {
  try {
    auto format = duckdb::make_shared_ptr<duckdb::ArrowFormat>(static_cast<idx_t>(batch_rows));
    auto result = impl_->cpp_connection->Query(sql, format);
    if (result->HasError()) return arrow::Status::IOError("DuckDB: ", result->GetError());
    int64_t rows = 0;
    for (const auto& array : result->Collection<duckdb::ArrowFormat>()) {
      rows += array->arrow_array.length;
    }
    return rows;
  } catch (const std::exception& e) {
    return arrow::Status::IOError("DuckDB: ", e.what());
  }
}

}  // namespace arrowport::bench
