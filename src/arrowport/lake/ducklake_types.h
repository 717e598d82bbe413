#pragma once

// DuckLake's column types and the text of its statistics and partition values
// (specification 1.0, "Data Types" and "Type Encoding for Statistics").

#include <memory>
#include <optional>
#include <string>

#include "arrow/result.h"
#include "arrow/scalar.h"
#include "arrow/type_fwd.h"

namespace arrowport::lake {

/// The DuckLake `column_type` of a column Arrowport writes (a stored type: int64,
/// timestamp[us, UTC] -> timestamptz, decimal128(p,s) -> decimal(p,s), ...). Nested and
/// other types are an error naming `column`.
arrow::Result<std::string> DuckLakeTypeName(const arrow::DataType& type,
                                            const std::string& column);

/// The Arrow type Arrowport reads a DuckLake `column_type` as (case-insensitive);
/// an error for types it cannot read (nested, interval, geometry, variant, ...).
arrow::Result<std::shared_ptr<arrow::DataType>> ArrowTypeOfDuckLake(const std::string& name);

/// A statistic (min_value/max_value) or identity partition value as DuckLake's text:
/// integers and decimals in decimal, booleans as 0/1, dates 2024-01-31, timestamps
/// 2024-01-31 12:00:00.123456 (timestamptz with +00), blobs as upper-case hex, strings as
/// they are. Null (unknown) for NaN, a null scalar, a string holding a NUL byte (what
/// DuckDB writes too), and years outside 1-9999.
std::optional<std::string> DuckLakeValueText(const arrow::Scalar& value);

/// DuckLakeValueText for a file's lower (`is_max` false) or upper bound, strings and blobs
/// cut to 256 bytes as DuckDB cuts them: a lower bound to a prefix, an upper one to a
/// prefix whose last byte is raised (unknown when none can be).
std::optional<std::string> DuckLakeBoundText(const arrow::Scalar& value, bool is_max);

/// The scalar of type `type` a statistic's text stands for (the reverse of
/// DuckLakeValueText, for text any DuckLake writer wrote); an error when it does not
/// parse.
arrow::Result<std::shared_ptr<arrow::Scalar>> ParseDuckLakeValue(
    const std::string& text, const std::shared_ptr<arrow::DataType>& type);

/// -1, 0 or 1 as `a` sorts before, with or after `b` (two valid scalars of one type).
arrow::Result<int> CompareScalars(const arrow::Scalar& a, const arrow::Scalar& b);

}  // namespace arrowport::lake
