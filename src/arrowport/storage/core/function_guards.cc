// DuckDB takes a throw from a function it marks as unable to fail for an internal error,
// and an internal error invalidates the whole database: every open transaction is lost
// and the server reopens it. Two ways SQL reached that (hostile runs):
// - functions that build a timestamp do not all check it against the timestamp range:
//   those from a number alone (make_timestamp(micros), epoch_ms(ms), to_timestamp(seconds),
//   make_timestamptz(micros), ...), and time_bucket(), which moves a timestamp near the
//   least to the start of its bucket, up to a bucket's width before it (an attack). A
//   value before DuckDB's least timestamp came out, and its first cast to text, or year()
//   of it, threw (from a read-only SELECT too);
// - its JSON functions threw on a malformed value (an Arrow arrow.json column, a Parquet
//   JSON column). DuckDB 2.0 already marks its ->>, from_json and json_extract able to
//   fail; json_type, json_structure, to_json and others it does not;
// - its quantile_cont and median make timestamps outside its range, which its casts and
//   functions then threw on (below).
// Functions that build a TIMESTAMP WITH TIME ZONE from a date and a TIMETZ can also land
// before the least; those values are read through ICU, which reports them as errors.
#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry/scalar_function_catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/schema_catalog_entry.hpp>
#include <duckdb/common/error_data.hpp>
#include <duckdb/common/exception/conversion_exception.hpp>
#include <duckdb/common/types/date.hpp>
#include <duckdb/common/types/interval.hpp>
#include <duckdb/common/types/time.hpp>
#include <duckdb/common/types/timestamp.hpp>
#include <duckdb/common/types/vector.hpp>
#include <duckdb/function/cast/cast_function_set.hpp>
#include <duckdb/function/cast/default_casts.hpp>
#include <duckdb/function/scalar_function.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/main/config.hpp>

#include <limits>
#include <string>

#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::storage {

namespace {

// A TIMESTAMP or TIMESTAMPTZ (microseconds) made from arguments: every such function's
// results are checked, not only those found to need it (most check their own, as
// timestamp arithmetic does; time_bucket did not, and an unchecked one goes unnoticed
// until a query casts its result). The check is a compare per value.
bool BuildsTimestamp(const duckdb::ScalarFunction& function) {
  const auto result = function.GetReturnType().id();
  if (result != duckdb::LogicalTypeId::TIMESTAMP &&
      result != duckdb::LogicalTypeId::TIMESTAMP_TZ) {
    return false;
  }
  return !function.GetSignature().GetParameters().empty();  // not now()
}

bool ReadsJson(const std::string& name) {
  return name.rfind("json", 0) == 0 || name == "to_json" || name == "array_to_json" ||
         name == "row_to_json";
}

// Functions of a value of any type (ANY) that write it as text themselves, not through a
// cast, and threw on a timestamp DuckDB cannot hold (an attack). Of DuckDB 2.0's functions
// taking ANY, the attack's run of each over such values found this one alone; marking
// every function of ANY able to fail would keep DuckDB from pushing filters of them
// (hash(x), list_contains(...)) into its scans.
bool WritesAnyValueAsText(const std::string& name) {
  return name == "hive_partition_component";
}

// Whether DuckDB holds a timestamp of `micros_per_unit` microseconds per unit (1: TIMESTAMP,
// 1000: TIMESTAMP_MS, ...): its infinities, or a value that is one in microseconds.
bool HeldInUnit(int64_t value, int64_t micros_per_unit) {
  constexpr int64_t kInfinity = std::numeric_limits<int64_t>::max();
  if (value == kInfinity || value == -kInfinity) return true;
  int64_t micros = 0;
  return !__builtin_mul_overflow(value, micros_per_unit, &micros) &&
         DuckDBHoldsTimestamp(micros);
}

// The first of `count` timestamps in `format` that DuckDB does not hold; null when it
// holds them all (NULLs included).
const int64_t* FirstOutsideRange(const duckdb::UnifiedVectorFormat& format,
                                 duckdb::idx_t count, int64_t micros_per_unit = 1) {
  const auto* values = duckdb::UnifiedVectorFormat::GetData<int64_t>(format);
  for (duckdb::idx_t row = 0; row < count; row++) {
    const auto index = format.sel->get_index(row);
    if (format.validity.RowIsValid(index) && !HeldInUnit(values[index], micros_per_unit)) {
      return &values[index];
    }
  }
  return nullptr;
}

void RefuseHeldOutsideRange(const std::string& function, duckdb::Vector& result,
                            duckdb::idx_t count) {
  duckdb::UnifiedVectorFormat format;
  result.ToUnifiedFormat(format);
  if (const int64_t* outside = FirstOutsideRange(format, count)) {
    throw duckdb::ConversionException(
        function + "(...) gives " + std::to_string(*outside) +
        " microseconds since 1970, before the least timestamp DuckDB holds "
        "(290309-12-22 (BC) 00:00:00, " + std::to_string(kLeastTimestampMicros) + ")");
  }
}

// Its result checked after it ran. Marked able to fail: a throw is then the query's own
// error (DuckDB folds it into a constant only when evaluating it succeeds).
void CheckResults(const std::string& name, duckdb::ScalarFunction& function) {
  auto unchecked = function.GetFunctionCallback();
  function.SetFunctionCallback([unchecked, name](duckdb::DataChunk& args,
                                                 duckdb::ExpressionState& state,
                                                 duckdb::Vector& result) {
    unchecked(args, state, result);
    RefuseHeldOutsideRange(name, result, args.size());
  });
  function.SetFallible();
}

// A function taking a timestamp of any unit: one DuckDB's own aggregates made out of
// range (below) reaches it stored or straight, and some throw on it (age(); an attack):
// marked able to fail, the throw is the query's error.
bool TakesTimestamp(const duckdb::ScalarFunction& function) {
  for (const auto& parameter : function.GetSignature().GetParameters()) {
    if (duckdb::LogicalType::TypeIsTimestamp(parameter.GetType())) return true;
  }
  return false;
}

// The overloads of one catalog entry, changed only when one of them needs it (a change
// replaces every overload's shared copy).
void Harden(duckdb::ScalarFunctionCatalogEntry& entry) {
  const std::string name = entry.name.GetIdentifierName();
  const bool by_name = ReadsJson(name) || WritesAnyValueAsText(name);
  bool needs = by_name;
  for (duckdb::idx_t i = 0; i < entry.functions.Size(); i++) {
    const auto& function = *entry.functions.GetFunctionByOffset(i);
    needs = needs || BuildsTimestamp(function) || TakesTimestamp(function);
  }
  if (!needs) return;
  entry.functions.ApplyToFunctions([&](duckdb::ScalarFunction& function) {
    if (by_name || TakesTimestamp(function)) function.SetFallible();
    if (BuildsTimestamp(function)) CheckResults(name, function);
  });
}

// The microseconds in one unit of a timestamp type whose casts are guarded; 0 for others
// (TIMESTAMP_NS holds no value DuckDB cannot convert; TIMESTAMPTZ's casts are ICU's,
// which report such values as errors).
int64_t GuardedMicrosPerUnit(duckdb::LogicalTypeId id) {
  switch (id) {
    case duckdb::LogicalTypeId::TIMESTAMP:
      return 1;
    case duckdb::LogicalTypeId::TIMESTAMP_MS:
      return duckdb::Interval::MICROS_PER_MSEC;
    case duckdb::LogicalTypeId::TIMESTAMP_SEC:
      return duckdb::Interval::MICROS_PER_SEC;
    default:
      return 0;
  }
}

// DuckDB's casts of a timestamp DuckDB does not hold throw where DuckDB counts them unable
// to fail (by their types alone: to text; a TIMESTAMP to TIMESTAMP_MS; every try_cast), so
// the throw invalidated the database. Such values still come out of DuckDB's own
// aggregates: quantile_cont and median interpolate in doubles (two least TIMESTAMPs give
// one a millisecond before the least; two greatest give INT64_MIN; two greatest
// TIMESTAMP_MS give one a millisecond past it; attacks), and once stored out of every read
// of them. A chunk holding one is cast here (CastTimestamp); every other chunk goes to
// DuckDB's own cast. DuckDB's casts to DATE, TIME and TIMETZ convert such values.
struct TimestampCast : duckdb::BoundCastData {
  TimestampCast(duckdb::BoundCastInfo duckdbs, duckdb::LogicalType source,
                duckdb::LogicalType target)
      : duckdbs(std::move(duckdbs)), source(std::move(source)), target(std::move(target)) {}
  duckdb::unique_ptr<duckdb::BoundCastData> Copy() const override {
    return duckdb::make_uniq<TimestampCast>(duckdbs.Copy(), source, target);
  }
  int64_t micros_per_unit() const { return GuardedMicrosPerUnit(source.id()); }
  duckdb::BoundCastInfo duckdbs;
  duckdb::LogicalType source, target;
};

// Never throws: the cast must not (anything it threw would invalidate the database).
std::string OutsideRangeText(int64_t micros) noexcept {
  try {
    constexpr int64_t kDay = duckdb::Interval::MICROS_PER_DAY;
    int64_t days = micros / kDay;
    int64_t time_of_day = micros % kDay;
    if (time_of_day < 0) {
      time_of_day += kDay;
      days -= 1;
    }
    return duckdb::Date::ToString(duckdb::date_t(static_cast<int32_t>(days))) + " " +
           duckdb::Time::ToString(duckdb::dtime_t(time_of_day));
  } catch (...) {
    return {};  // not reached for any int64 (the review); empty rather than a throw
  }
}

// To text: each value as DuckDB writes the date and the time of day it stands for.
void WriteTimestampText(const duckdb::UnifiedVectorFormat& format, duckdb::Vector& result,
                        duckdb::idx_t count) {
  result.SetVectorType(duckdb::VectorType::FLAT_VECTOR);
  duckdb::FlatVector::ValidityMutable(result).SetAllValid(count);  // no mask of before
  const auto* values = duckdb::UnifiedVectorFormat::GetData<int64_t>(format);
  auto* texts = duckdb::FlatVector::GetDataMutable<duckdb::string_t>(result);
  for (duckdb::idx_t row = 0; row < count; row++) {
    const auto index = format.sel->get_index(row);
    if (!format.validity.RowIsValid(index)) {
      duckdb::FlatVector::SetNull(result, row, true);
      continue;
    }
    const int64_t micros = values[index];
    texts[row] = duckdb::StringVector::AddString(
        result, DuckDBHoldsTimestamp(micros)
                    ? duckdb::Timestamp::ToString(duckdb::timestamp_t(micros))
                    : OutsideRangeText(micros));
  }
}

// A try_cast: the values outside the range are NULL (what it gives for a value it cannot
// convert), the others DuckDB's cast of them.
bool CastWithoutOutsiders(const duckdb::UnifiedVectorFormat& format, duckdb::Vector& result,
                          duckdb::idx_t count, const TimestampCast& cast,
                          duckdb::CastParameters& duckdbs) {
  duckdb::Vector held(cast.source, count);
  duckdb::FlatVector::SetSize(held, count);
  auto* kept = duckdb::FlatVector::GetDataMutable<int64_t>(held);
  auto& validity = duckdb::FlatVector::ValidityMutable(held);
  const auto* values = duckdb::UnifiedVectorFormat::GetData<int64_t>(format);
  for (duckdb::idx_t row = 0; row < count; row++) {
    const auto index = format.sel->get_index(row);
    kept[row] = values[index];
    if (!format.validity.RowIsValid(index) ||
        !HeldInUnit(values[index], cast.micros_per_unit())) {
      validity.SetInvalid(row);
    }
  }
  cast.duckdbs.Cast(held, result, count, duckdbs);
  if (duckdbs.error_message != nullptr && duckdbs.error_message->empty()) {
    *duckdbs.error_message = "a timestamp outside the range DuckDB holds";
  }
  return false;  // as DuckDB's try casts answer when a value became NULL
}

bool CastTimestamp(duckdb::Vector& source, duckdb::Vector& result, duckdb::idx_t count,
                   duckdb::CastParameters& parameters) {
  const auto& cast = parameters.cast_data->Cast<TimestampCast>();
  duckdb::CastParameters duckdbs(parameters, cast.duckdbs.GetCastData(), parameters.local_state);
  duckdbs.cast_source = parameters.cast_source;  // what DuckDB's errors name
  duckdbs.cast_target = parameters.cast_target;
  duckdbs.nullify_parent = parameters.nullify_parent;
  duckdb::UnifiedVectorFormat format;
  source.ToUnifiedFormat(format);
  const int64_t* outside = FirstOutsideRange(format, count, cast.micros_per_unit());
  if (outside == nullptr) return cast.duckdbs.Cast(source, result, count, duckdbs);
  if (cast.micros_per_unit() == 1 && cast.target.id() == duckdb::LogicalTypeId::VARCHAR &&
      !cast.target.HasAlias()) {  // text, not JSON (a VARCHAR with an alias)
    WriteTimestampText(format, result, count);
    return true;
  }
  if (parameters.error_message != nullptr) {
    return CastWithoutOutsiders(format, result, count, cast, duckdbs);
  }
  const std::string message =
      "cannot cast the " + cast.source.ToString() + " " + std::to_string(*outside) +
      " (units since 1970) to " + cast.target.ToString() +
      ": outside the range of timestamps DuckDB holds (290309-12-22 (BC) 00:00:00 to "
      "294247-01-10 04:00:54.775806)";
  // Not a conversion error: where DuckDB counts a cast unable to fail (by its types
  // alone) it takes one for an internal error; an error of another kind is the query's.
  throw duckdb::InvalidTypeException(message);
}

// The cast set's registered bind functions, which it asks newest first and its default
// one after them. DuckDB offers no way to put a cast ahead of one an extension registered
// (ICU's TIMESTAMP to TIMESTAMPTZ: a second registration of a pair is ignored), so the
// list is reached as C++ lets a private member be named: in an explicit instantiation.
using BindFunctions = duckdb::vector<duckdb::BindCastFunction>;
BindFunctions& BindFunctionsOf(duckdb::CastFunctionSet& casts);
template <BindFunctions duckdb::CastFunctionSet::*kRegistered>
struct BindFunctionsAccess {
  friend BindFunctions& BindFunctionsOf(duckdb::CastFunctionSet& casts) {
    return casts.*kRegistered;
  }
};
template struct BindFunctionsAccess<&duckdb::CastFunctionSet::registered_bind_functions>;

// Asked first for every cast: of a guarded timestamp type, the cast the others give,
// inside ours (as cheap as it was for values in range; implicit costs are not bind
// functions' and stay DuckDB's); of any other type, nothing (the others are asked next).
duckdb::BoundCastInfo BindTimestampCast(duckdb::BindCastInput& input,
                                        const duckdb::LogicalType& source,
                                        const duckdb::LogicalType& target);

// The cast the other bind functions give, asked as DuckDB asks them: the registered ones
// newest first, then its default one.
duckdb::BoundCastInfo DuckDBsCast(duckdb::BindCastInput& input,
                                  const duckdb::LogicalType& source,
                                  const duckdb::LogicalType& target) {
  auto& functions = BindFunctionsOf(input.function_set);
  for (duckdb::idx_t i = functions.size(); i > 0; i--) {
    auto& function = functions[i - 1];
    if (function.function == &BindTimestampCast) continue;
    duckdb::BindCastInput theirs(input.function_set, function.info.get(), input.context);
    theirs.query_location = input.query_location;
    auto cast = function.function(theirs, source, target);
    if (cast.HasFunction()) return cast;
  }
  return duckdb::DefaultCasts::GetDefaultCastFunction(input, source, target);
}

// DuckDB's own state for its cast (JSON's, VARIANT's), made from its own cast data.
duckdb::unique_ptr<duckdb::FunctionLocalState> InitTimestampCastState(
    duckdb::CastLocalStateParameters& parameters) {
  const auto& cast = parameters.cast_data->Cast<TimestampCast>();
  duckdb::CastLocalStateParameters duckdbs(parameters, cast.duckdbs.GetCastData());
  return cast.duckdbs.InitLocalState(duckdbs);
}

duckdb::BoundCastInfo BindTimestampCast(duckdb::BindCastInput& input,
                                        const duckdb::LogicalType& source,
                                        const duckdb::LogicalType& target) {
  const auto to = target.id();
  // DuckDB's casts to DATE, TIME and TIMETZ convert such values. Nothing is answered for
  // them (nor for a pair with no cast or nothing to convert): DuckDB binds those itself,
  // and gives a cast its default binder made its statistics (GROUP BY ts::DATE is grouped
  // by a perfect hash only with them; a wrapped cast has none).
  if (GuardedMicrosPerUnit(source.id()) == 0 || to == duckdb::LogicalTypeId::DATE ||
      to == duckdb::LogicalTypeId::TIME || to == duckdb::LogicalTypeId::TIME_TZ) {
    return nullptr;
  }
  duckdb::BoundCastInfo duckdbs = DuckDBsCast(input, source, target);
  if (!duckdbs.HasFunction() || duckdbs.IsNullCast() || duckdbs.IsNopCast()) return nullptr;
  const bool has_state = duckdbs.HasInitLocalState();
  return duckdb::BoundCastInfo(
      &CastTimestamp,
      duckdb::make_uniq<TimestampCast>(std::move(duckdbs), source, target),
      has_state ? &InitTimestampCastState : nullptr);
}

// Once per database; a second call (a reopened database's own set is new) adds nothing.
// DuckDB asks every registered bind function, newest first, for every cast it binds.
void GuardTimestampCasts(duckdb::ClientContext& context) {
  auto& functions = BindFunctionsOf(duckdb::DBConfig::GetConfig(context).GetCastFunctions());
  for (const auto& function : functions) {
    if (function.function == &BindTimestampCast) return;
  }
  functions.emplace_back(&BindTimestampCast);
}

}  // namespace

arrow::Status HardenDuckDBFunctions(duckdb_connection connection) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  try {
    context->RunFunctionInTransaction([&] {
      auto& schema = duckdb::Catalog::GetSystemCatalog(*context).GetSchema(
          *context, duckdb::Identifier("main"));
      // The committed entries: every scalar function DuckDB and its static extensions
      // registered (in system transactions, committed). A scan through the context first
      // builds every entry DuckDB otherwise builds on first use, its built-in macros,
      // parsing each one's SQL (docs/testing.md); those are macros, never functions.
      schema.Scan(duckdb::CatalogType::SCALAR_FUNCTION_ENTRY,
                  [](duckdb::CatalogEntry& entry) {
                    // The scan walks every kind of function DuckDB keeps in one set.
                    if (entry.type != duckdb::CatalogType::SCALAR_FUNCTION_ENTRY) return;
                    Harden(entry.Cast<duckdb::ScalarFunctionCatalogEntry>());
                  });
    });
    GuardTimestampCasts(*context);
  } catch (const std::exception& e) {
    return arrow::Status::IOError("cannot guard DuckDB's functions: ",
                                  duckdb::ErrorData(e).Message());
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
