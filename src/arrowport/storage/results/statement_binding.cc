// Preparing and binding statements through DuckDB's C API, and the Arrow schema of a
// result's types.
#include "arrowport/storage/results/statement_binding.h"

#include "arrow/c/bridge.h"
#include "arrowport/storage/core/duckdb_error.h"

namespace arrowport::storage {

arrow::Result<std::shared_ptr<arrow::Schema>> ArrowSchemaOf(
    duckdb_arrow_options options, std::vector<LogicalTypeHandle>& types,
    const std::vector<std::string>& names) {
  std::vector<duckdb_logical_type> raw_types;
  std::vector<const char*> raw_names;
  for (auto& t : types) raw_types.push_back(t.get());
  for (auto& n : names) raw_names.push_back(n.c_str());
  ArrowSchema c_schema;
  ARROW_RETURN_NOT_OK(ConsumeErrorData(duckdb_to_arrow_schema(
      options, raw_types.data(), raw_names.data(), raw_types.size(), &c_schema)));
  return arrow::ImportSchema(&c_schema);
}

arrow::Status PrepareAndBind(duckdb_connection conn, const std::string& sql,
                      const std::vector<std::string>& parameters, PreparedHandle* out) {
  if (duckdb_prepare(conn, sql.c_str(), out->out()) == DuckDBError) {
    const char* error = duckdb_prepare_error(out->get());
    return TranslateDuckDBError(-1, error ? error : "cannot prepare statement");
  }
  return BindVarchars(out->get(), parameters);
}

arrow::Status BindVarchars(duckdb_prepared_statement prepared,
                           const std::vector<std::string>& parameters) {
  const auto expected = duckdb_nparams(prepared);
  if (expected != parameters.size()) {
    return arrow::Status::Invalid("query has ", expected, " parameter(s) but ",
                                  parameters.size(), " were given");
  }
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (duckdb_bind_varchar_length(prepared, i + 1, parameters[i].data(),
                                   parameters[i].size()) == DuckDBError) {
      return arrow::Status::Invalid("cannot bind parameter ", i + 1);
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
