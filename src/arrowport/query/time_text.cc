// Dates and timestamps Arrow cannot write as text (time_text.h).
#include "arrowport/query/time_text.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "arrow/array.h"
#include "arrow/builder.h"
#include "arrow/compute/cast.h"
#include "arrow/scalar.h"
#include "arrow/type.h"
#include "arrow/util/ubsan.h"

namespace arrowport::query {

namespace {

constexpr int64_t kSecondsPerDay = 86400;
// 0001-01-01 and 9999-12-31 in days since 1970-01-01.
constexpr int64_t kFirstDay = -719162;
constexpr int64_t kLastDay = 2932896;

int64_t UnitsPerSecond(arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND: return 1;
    case arrow::TimeUnit::MILLI: return 1000;
    case arrow::TimeUnit::MICRO: return 1000000;
    case arrow::TimeUnit::NANO: return 1000000000;
  }
  return 1;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The proleptic Gregorian date of day `days` since 1970-01-01, for any int64 day count
// DuckDB can hold (H. Hinnant's civil_from_days, in 64-bit arithmetic).
void CivilFromDays(int64_t days, int64_t* year, int* month, int* day) {
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *year = yoe + era * 400 + (*month <= 2);
}

std::string DateText(int64_t days) {
  int64_t year = 0;
  int month = 0, day = 0;
  CivilFromDays(days, &year, &month, &day);
  char text[48];
  // Arrow's form: four digits at least, a sign before years before year 1 (year 0 = 1 BC).
  const long long magnitude = year < 0 ? -static_cast<long long>(year) : year;
  std::snprintf(text, sizeof(text), "%s%04lld-%02d-%02d", year < 0 ? "-" : "", magnitude,
                month, day);
  return text;
}

bool IsTimeOfDay(const arrow::DataType& type) {
  return type.id() == arrow::Type::TIME32 || type.id() == arrow::Type::TIME64;
}

int64_t UnitsPerSecondOf(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::TIMESTAMP:
      return UnitsPerSecond(static_cast<const arrow::TimestampType&>(type).unit());
    case arrow::Type::TIME32:
    case arrow::Type::TIME64:
      return UnitsPerSecond(static_cast<const arrow::TimeType&>(type).unit());
    default:
      return 1;
  }
}

// "HH:MM:SS" and the unit's fraction digits, hours past 23 as they are (DuckDB's
// TIME '24:00:00').
std::string ClockText(uint64_t seconds, uint64_t fraction, int64_t per_second) {
  char clock[64];
  std::snprintf(clock, sizeof(clock), "%02llu:%02d:%02d",
                static_cast<unsigned long long>(seconds / 3600),
                static_cast<int>(seconds / 60 % 60), static_cast<int>(seconds % 60));
  std::string text = clock;
  if (per_second > 1) {
    const int digits = per_second == 1000 ? 3 : per_second == 1000000 ? 6 : 9;
    char decimals[16];
    std::snprintf(decimals, sizeof(decimals), ".%0*lld", digits,
                  static_cast<long long>(fraction));
    text += decimals;
  }
  return text;
}

bool IsInfinity(const arrow::DataType& type, int64_t value) {
  if (IsTimeOfDay(type)) return false;
  if (type.id() == arrow::Type::DATE32) {
    return value == std::numeric_limits<int32_t>::max() ||
           value == -std::numeric_limits<int32_t>::max();
  }
  return value == std::numeric_limits<int64_t>::max() ||
         value == -std::numeric_limits<int64_t>::max();
}

}  // namespace

ArrowTimeRange ArrowWritesBetween(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DATE32) return {kFirstDay, kLastDay};
  if (IsTimeOfDay(type)) return {0, kSecondsPerDay * UnitsPerSecondOf(type) - 1};
  if (type.id() != arrow::Type::TIMESTAMP) return {};
  const auto& ts = static_cast<const arrow::TimestampType&>(type);
  const __int128 per_day = static_cast<__int128>(kSecondsPerDay) * UnitsPerSecond(ts.unit());
  // Nanoseconds reach only 1677..2262: clamped inside int64, with its ends (DuckDB's
  // infinities) left out.
  const __int128 lowest = -std::numeric_limits<int64_t>::max() + 1;
  const __int128 highest = std::numeric_limits<int64_t>::max() - 1;
  const __int128 first = std::max(lowest, kFirstDay * per_day);
  const __int128 last = std::min(highest, (kLastDay + 1) * per_day - 1);
  return {static_cast<int64_t>(first), static_cast<int64_t>(last)};
}

bool HasTimeText(const arrow::DataType& type) {
  return type.id() == arrow::Type::DATE32 || type.id() == arrow::Type::TIMESTAMP ||
         IsTimeOfDay(type);
}

bool NeedsOwnTimeText(const arrow::DataType& type, int64_t value) {
  if (!HasTimeText(type)) return false;
  return !ArrowWritesBetween(type).Holds(value);
}

std::string OwnTimeText(const arrow::DataType& type, int64_t value) {
  if (IsInfinity(type, value)) return value > 0 ? "infinity" : "-infinity";
  if (type.id() == arrow::Type::DATE32) return DateText(value);
  const int64_t per_second = UnitsPerSecondOf(type);
  if (IsTimeOfDay(type)) {
    // Arrow's times are never negative; one sent anyway reads as the time before midnight.
    const uint64_t magnitude =
        value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
    return (value < 0 ? "-" : "") +
           ClockText(magnitude / per_second, magnitude % per_second, per_second);
  }
  const int64_t seconds = FloorDiv(value, per_second);
  // Not value - seconds * per_second: that product leaves int64 near its least value.
  int64_t fraction = value % per_second;
  if (fraction < 0) fraction += per_second;
  const int64_t days = FloorDiv(seconds, kSecondsPerDay);
  int64_t of_day = seconds % kSecondsPerDay;  // by remainder, as the fraction
  if (of_day < 0) of_day += kSecondsPerDay;
  std::string text = DateText(days) + " " + ClockText(of_day, fraction, per_second);
  if (!static_cast<const arrow::TimestampType&>(type).timezone().empty()) text += 'Z';
  return text;
}

std::optional<std::string> OwnTimeTextOf(const arrow::Scalar& scalar) {
  if (!scalar.is_valid) return std::nullopt;
  int64_t value = 0;
  switch (scalar.type->id()) {
    case arrow::Type::DATE32:
      value = static_cast<const arrow::Date32Scalar&>(scalar).value;
      break;
    case arrow::Type::TIMESTAMP:
      value = static_cast<const arrow::TimestampScalar&>(scalar).value;
      break;
    case arrow::Type::TIME32:
      value = static_cast<const arrow::Time32Scalar&>(scalar).value;
      break;
    case arrow::Type::TIME64:
      value = static_cast<const arrow::Time64Scalar&>(scalar).value;
      break;
    default:
      return std::nullopt;
  }
  if (!NeedsOwnTimeText(*scalar.type, value)) return std::nullopt;
  return OwnTimeText(*scalar.type, value);
}

arrow::Result<std::shared_ptr<arrow::Array>> TimesAsTextWhereNeeded(
    const std::shared_ptr<arrow::Array>& array) {
  const arrow::DataType& type = *array->type();
  if (!HasTimeText(type)) return array;
  // Date32 and time32 hold 32-bit values, timestamps and time64 64-bit ones.
  const bool narrow = type.id() == arrow::Type::DATE32 || type.id() == arrow::Type::TIME32;
  const uint8_t* raw = array->data()->buffers[1]->data();
  auto value_at = [&](int64_t row) -> int64_t {
    const int64_t at = array->offset() + row;
    if (narrow) return arrow::util::SafeLoadAs<int32_t>(raw + at * 4);
    return arrow::util::SafeLoadAs<int64_t>(raw + at * 8);
  };
  const ArrowTimeRange arrow_writes = ArrowWritesBetween(type);  // once, not per value
  auto needs_own = [&](int64_t row) { return !arrow_writes.Holds(value_at(row)); };
  bool any = false;
  for (int64_t row = 0; row < array->length() && !any; ++row) {
    any = array->IsValid(row) && needs_own(row);
  }
  if (!any) return array;
  ARROW_ASSIGN_OR_RAISE(auto cast, arrow::compute::Cast(*array, arrow::utf8()));
  const auto& arrow_text = static_cast<const arrow::StringArray&>(*cast);
  arrow::StringBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(array->length()));
  for (int64_t row = 0; row < array->length(); ++row) {
    if (array->IsNull(row)) {
      ARROW_RETURN_NOT_OK(builder.AppendNull());
    } else if (needs_own(row)) {
      ARROW_RETURN_NOT_OK(builder.Append(OwnTimeText(type, value_at(row))));
    } else {
      ARROW_RETURN_NOT_OK(builder.Append(arrow_text.GetView(row)));
    }
  }
  return builder.Finish();
}

}  // namespace arrowport::query
