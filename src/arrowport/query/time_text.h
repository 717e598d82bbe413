#pragma once
// Dates and timestamps as text where Arrow's formatter cannot be trusted: DuckDB's
// `infinity` and `-infinity` (the largest values of their types), and years outside
// 1..9999. Arrow prints "<value out of range: N>" for the first and for years past its
// date library's range, and for a timestamp with a time zone it printed a wrong date
// ("32103-01-10 ...Z" for DuckDB's infinity). The JSON and CSV results use this text.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::query {

/// The raw values of a HasTimeText type Arrow's formatter writes right: years
/// 1..9999, a time of day 00:00:00 to 23:59:59.999999999 (DuckDB's infinities lie
/// outside). Found once per column: two comparisons a value.
struct ArrowTimeRange {
  int64_t first = 0;
  int64_t last = -1;  // empty: any other type
  bool Holds(int64_t value) const { return value >= first && value <= last; }
};
ArrowTimeRange ArrowWritesBetween(const arrow::DataType& type);

/// True for the types time_text writes: date32, timestamp, time32 and time64.
bool HasTimeText(const arrow::DataType& type);

/// True when `value` of `type` (HasTimeText; false for any other type) is DuckDB's
/// infinity or -infinity, its year is outside 1..9999, or its time of day is outside
/// 00:00:00..23:59:59.999999999 (DuckDB's TIME '24:00:00'): text for it is OwnTimeText's.
bool NeedsOwnTimeText(const arrow::DataType& type, int64_t value);

/// DuckDB's "infinity" or "-infinity", else the value as Arrow writes one in its range
/// ("YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS" with the unit's fraction digits, "Z" after a
/// timestamp with a time zone: the server's are UTC), with a year of any size:
/// "294246-12-31", "-0043-03-15" (year 0 is 1 BC, as in ISO 8601); a time of day as
/// "HH:MM:SS" with the unit's fraction, hours past 23 as they are ("24:00:00.000000").
std::string OwnTimeText(const arrow::DataType& type, int64_t value);

/// OwnTimeText of a valid HasTimeText scalar that NeedsOwnTimeText; else nothing
/// (Arrow's ToString writes it).
std::optional<std::string> OwnTimeTextOf(const arrow::Scalar& scalar);

/// `array` (HasTimeText) as strings, Arrow's text for every value but those
/// NeedsOwnTimeText names, when it holds any of those; else `array` itself.
arrow::Result<std::shared_ptr<arrow::Array>> TimesAsTextWhereNeeded(
    const std::shared_ptr<arrow::Array>& array);

}  // namespace arrowport::query
