// DuckDB's functions that build a timestamp from a number (make_timestamp(micros),
// epoch_ms(ms), to_timestamp(seconds), make_timestamptz(micros), ...) do not check the
// number against the timestamp range. A value below DuckDB's least timestamp is then
// held, and the first cast of it to text, or year() of it, throws inside a function DuckDB
// marks as unable to fail: an internal error, which invalidates the whole database (every
// open transaction lost) at each read. The guard checks what those functions return.
#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry/scalar_function_catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/schema_catalog_entry.hpp>
#include <duckdb/common/error_data.hpp>
#include <duckdb/common/exception/conversion_exception.hpp>
#include <duckdb/common/types/timestamp.hpp>
#include <duckdb/common/types/vector.hpp>
#include <duckdb/function/scalar_function.hpp>
#include <duckdb/main/client_context.hpp>

#include <string>

#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::storage {

namespace {

// A timestamp (TIMESTAMP, TIMESTAMPTZ: microseconds) made from numbers alone: the
// overloads whose result nothing else has range-checked (arithmetic on timestamps and
// the text parsers check their own).
bool BuildsTimestampFromNumbers(const duckdb::ScalarFunction& function) {
  const auto result = function.GetReturnType().id();
  if (result != duckdb::LogicalTypeId::TIMESTAMP &&
      result != duckdb::LogicalTypeId::TIMESTAMP_TZ) {
    return false;
  }
  const auto& parameters = function.GetSignature().GetParameters();
  if (parameters.empty()) return false;  // now(), current_localtimestamp()
  for (const auto& parameter : parameters) {
    if (!parameter.GetType().IsNumeric()) return false;
  }
  return true;
}

void RefuseHeldOutsideRange(const std::string& function, duckdb::Vector& result,
                            duckdb::idx_t count) {
  duckdb::UnifiedVectorFormat format;
  result.ToUnifiedFormat(count, format);
  const auto* values = duckdb::UnifiedVectorFormat::GetData<int64_t>(format);
  for (duckdb::idx_t row = 0; row < count; row++) {
    const auto index = format.sel->get_index(row);
    if (!format.validity.RowIsValid(index)) continue;
    if (!DuckDBHoldsTimestamp(values[index])) {
      throw duckdb::ConversionException(
          function + "(...) gives " + std::to_string(values[index]) +
          " microseconds since 1970, before the least timestamp DuckDB holds "
          "(290309-12-22 (BC) 00:00:00, " + std::to_string(kLeastTimestampMicros) + ")");
    }
  }
}

// DuckDB's JSON functions assume their input parsed when it was made JSON; a malformed
// value (an Arrow arrow.json column, a Parquet JSON column) makes them throw, and DuckDB
// takes a throw from a function not marked as able to fail for an internal error, which
// invalidated the database. Marked able to fail, the throw is the query's own error.
bool ReadsJson(const std::string& name) {
  return name.rfind("json", 0) == 0 || name == "to_json" || name == "array_to_json" ||
         name == "row_to_json";
}

}  // namespace

arrow::Status GuardTimestampConstructors(duckdb_connection connection) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  try {
    context->RunFunctionInTransaction([&] {
      auto& schema = duckdb::Catalog::GetSystemCatalog(*context).GetSchema(
          *context, duckdb::Identifier("main"));
      schema.Scan(*context, duckdb::CatalogType::SCALAR_FUNCTION_ENTRY,
                  [](duckdb::CatalogEntry& entry) {
        // The scan walks every kind of function DuckDB keeps in one set.
        if (entry.type != duckdb::CatalogType::SCALAR_FUNCTION_ENTRY) return;
        auto& functions = entry.Cast<duckdb::ScalarFunctionCatalogEntry>().functions;
        const std::string name = entry.name.GetIdentifierName();
        functions.ApplyToFunctions([&name](duckdb::ScalarFunction& function) {
          if (ReadsJson(name)) function.SetFallible();
          if (!BuildsTimestampFromNumbers(function)) return;
          auto unchecked = function.GetFunctionCallback();
          function.SetFunctionCallback([unchecked, name](duckdb::DataChunk& args,
                                                         duckdb::ExpressionState& state,
                                                         duckdb::Vector& result) {
            unchecked(args, state, result);
            RefuseHeldOutsideRange(name, result, args.size());
          });
          // It can now fail: DuckDB neither folds nor caches it as a function that cannot.
          function.SetFallible();
        });
      });
    });
  } catch (const std::exception& e) {
    return arrow::Status::IOError("cannot guard DuckDB's timestamp functions: ",
                                  duckdb::ErrorData(e).Message());
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
