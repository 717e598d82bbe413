#include "arrowport/storage/core/arrow_params.h"

#include <limits>
#include <string>

#include "arrow/array.h"
#include "arrow/scalar.h"
#include "arrow/type.h"
#include "arrow/util/checked_cast.h"
#include "arrowport/storage/core/duckdb_handle.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::storage {

namespace {

using ValueHandle = Handle<duckdb_value, &duckdb_destroy_value>;
using arrow::internal::checked_cast;

// DuckDB keeps timestamps and intervals in microseconds. A value whose microseconds do
// not fit 64 bits is refused: multiplied as it was, it wrapped into another millennium.
arrow::Result<int64_t> ToMicros(int64_t value, arrow::TimeUnit::type unit) {
  int64_t factor = 1;
  switch (unit) {
    case arrow::TimeUnit::SECOND: factor = 1000000; break;
    case arrow::TimeUnit::MILLI: factor = 1000; break;
    case arrow::TimeUnit::MICRO: return value;
    case arrow::TimeUnit::NANO: return value / 1000;
  }
  int64_t micros = 0;
  if (__builtin_mul_overflow(value, factor, &micros)) {
    return arrow::Status::Invalid("the parameter value ", value, " ",
                                  arrow::internal::ToString(unit),
                                  " is out of range for a timestamp or interval");
  }
  return micros;
}

template <typename ArrayType>
std::string_view StringAt(const arrow::Array& column, int64_t row) {
  return checked_cast<const ArrayType&>(column).GetView(row);
}

// Dates, timestamps, durations and intervals, in DuckDB's units.
arrow::Result<duckdb_value> MakeTemporalValue(const arrow::Array& column, int64_t row) {
  switch (column.type_id()) {
    case arrow::Type::DATE32:
      return duckdb_create_date(
          duckdb_date{checked_cast<const arrow::Date32Array&>(column).Value(row)});
    case arrow::Type::DATE64: {
      // Milliseconds to days, rounded down (a moment before 1970 is on the day before).
      const int64_t ms = checked_cast<const arrow::Date64Array&>(column).Value(row);
      const int64_t days = ms / 86400000 - (ms % 86400000 < 0 ? 1 : 0);
      if (days < std::numeric_limits<int32_t>::min() ||
          days > std::numeric_limits<int32_t>::max()) {
        return arrow::Status::Invalid("the parameter value ", ms,
                                      " ms is out of range for a date");
      }
      return duckdb_create_date(duckdb_date{static_cast<int32_t>(days)});
    }
    case arrow::Type::TIMESTAMP: {
      const auto& type = checked_cast<const arrow::TimestampType&>(*column.type());
      ARROW_ASSIGN_OR_RAISE(
          const int64_t micros,
          ToMicros(checked_cast<const arrow::TimestampArray&>(column).Value(row), type.unit()));
      if (!DuckDBHoldsTimestamp(micros)) {
        return arrow::Status::Invalid("the parameter value ", micros,
                                      " us is out of range for a timestamp (290309 BC to "
                                      "294247 AD)");
      }
      duckdb_timestamp ts{micros};
      return type.timezone().empty() ? duckdb_create_timestamp(ts)
                                     : duckdb_create_timestamp_tz(ts);
    }
    // Durations and intervals as DuckDB INTERVALs: their text form carries no unit
    // ("1500" for 1.5 s in milliseconds), which DuckDB read as seconds.
    case arrow::Type::DURATION: {
      const auto& type = checked_cast<const arrow::DurationType&>(*column.type());
      ARROW_ASSIGN_OR_RAISE(
          const int64_t micros,
          ToMicros(checked_cast<const arrow::DurationArray&>(column).Value(row), type.unit()));
      return duckdb_create_interval(duckdb_interval{0, 0, micros});
    }
    case arrow::Type::INTERVAL_MONTHS:
      return duckdb_create_interval(duckdb_interval{
          checked_cast<const arrow::MonthIntervalArray&>(column).Value(row), 0, 0});
    case arrow::Type::INTERVAL_DAY_TIME: {
      const auto value = checked_cast<const arrow::DayTimeIntervalArray&>(column).Value(row);
      return duckdb_create_interval(
          duckdb_interval{0, value.days, int64_t{value.milliseconds} * 1000});
    }
    case arrow::Type::INTERVAL_MONTH_DAY_NANO: {
      const auto value =
          checked_cast<const arrow::MonthDayNanoIntervalArray&>(column).Value(row);
      return duckdb_create_interval(
          duckdb_interval{value.months, value.days, value.nanoseconds / 1000});
    }
    default:
      return arrow::Status::NotImplemented("binding a ", column.type()->ToString());
  }
}

arrow::Result<duckdb_value> MakeValue(const arrow::Array& column, int64_t row) {
  if (column.IsNull(row)) return duckdb_create_null_value();
  switch (column.type_id()) {
    case arrow::Type::BOOL:
      return duckdb_create_bool(checked_cast<const arrow::BooleanArray&>(column).Value(row));
    case arrow::Type::INT8:
      return duckdb_create_int64(checked_cast<const arrow::Int8Array&>(column).Value(row));
    case arrow::Type::INT16:
      return duckdb_create_int64(checked_cast<const arrow::Int16Array&>(column).Value(row));
    case arrow::Type::INT32:
      return duckdb_create_int32(checked_cast<const arrow::Int32Array&>(column).Value(row));
    case arrow::Type::INT64:
      return duckdb_create_int64(checked_cast<const arrow::Int64Array&>(column).Value(row));
    case arrow::Type::UINT8:
      return duckdb_create_int64(checked_cast<const arrow::UInt8Array&>(column).Value(row));
    case arrow::Type::UINT16:
      return duckdb_create_int64(checked_cast<const arrow::UInt16Array&>(column).Value(row));
    case arrow::Type::UINT32:
      return duckdb_create_int64(checked_cast<const arrow::UInt32Array&>(column).Value(row));
    case arrow::Type::UINT64:
      return duckdb_create_uint64(checked_cast<const arrow::UInt64Array&>(column).Value(row));
    case arrow::Type::FLOAT:
      return duckdb_create_float(checked_cast<const arrow::FloatArray&>(column).Value(row));
    case arrow::Type::DOUBLE:
      return duckdb_create_double(checked_cast<const arrow::DoubleArray&>(column).Value(row));
    case arrow::Type::STRING: {
      auto v = StringAt<arrow::StringArray>(column, row);
      return duckdb_create_varchar_length(v.data(), v.size());
    }
    case arrow::Type::LARGE_STRING: {
      auto v = StringAt<arrow::LargeStringArray>(column, row);
      return duckdb_create_varchar_length(v.data(), v.size());
    }
    case arrow::Type::STRING_VIEW: {
      auto v = StringAt<arrow::StringViewArray>(column, row);
      return duckdb_create_varchar_length(v.data(), v.size());
    }
    case arrow::Type::BINARY: {
      auto v = StringAt<arrow::BinaryArray>(column, row);
      return duckdb_create_blob(reinterpret_cast<const uint8_t*>(v.data()), v.size());
    }
    case arrow::Type::LARGE_BINARY: {
      auto v = StringAt<arrow::LargeBinaryArray>(column, row);
      return duckdb_create_blob(reinterpret_cast<const uint8_t*>(v.data()), v.size());
    }
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
    case arrow::Type::TIMESTAMP:
    case arrow::Type::DURATION:
    case arrow::Type::INTERVAL_MONTHS:
    case arrow::Type::INTERVAL_DAY_TIME:
    case arrow::Type::INTERVAL_MONTH_DAY_NANO:
      return MakeTemporalValue(column, row);
    case arrow::Type::DICTIONARY: {
      const auto& dict = checked_cast<const arrow::DictionaryArray&>(column);
      return MakeValue(*dict.dictionary(), dict.GetValueIndex(row));
    }
    default: {
      // A nested value's text is Arrow's print of it ("list<item: int64>[1, 2]"), which
      // DuckDB cannot cast back and a VARCHAR column would keep as it is: refused.
      if (arrow::is_nested(column.type_id())) {
        return arrow::Status::Invalid("a parameter of type ", column.type()->ToString(),
                                      " cannot be bound: bind scalar values (one per "
                                      "parameter) or send the rows by ingest");
      }
      // Decimals and times: their text form, which DuckDB casts to the parameter's type.
      ARROW_ASSIGN_OR_RAISE(auto scalar, column.GetScalar(row));
      const std::string text = scalar->ToString();
      return duckdb_create_varchar_length(text.data(), text.size());
    }
  }
}

}  // namespace

arrow::Status BindArrowValue(duckdb_prepared_statement prepared, idx_t index,
                             const arrow::Array& column, int64_t row) {
  ARROW_ASSIGN_OR_RAISE(auto raw, MakeValue(column, row));
  ValueHandle value(raw);
  if (duckdb_bind_value(prepared, index, value.get()) == DuckDBError) {
    return arrow::Status::Invalid("cannot bind a ", column.type()->ToString(),
                                  " value to parameter ", index);
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
