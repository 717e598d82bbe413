#pragma once

#include <memory>
#include <string>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::lake {

/// \brief The type a Delta table stores for a column of Arrow type `type`: the Arrow type
/// every Delta reader hands back for it (uint8 -> int16, string views -> utf8, timestamps
/// in microseconds, dictionaries decoded, lists as list). Types Delta Lake cannot hold
/// (uint64, time, duration, interval, null, unions) are an error naming `column`.
arrow::Result<std::shared_ptr<arrow::DataType>> DeltaStoredType(
    const std::shared_ptr<arrow::DataType>& type, const std::string& column);

/// DeltaStoredType of every field; nullability kept.
arrow::Result<std::shared_ptr<arrow::Schema>> DeltaStoredSchema(const arrow::Schema& schema);

/// The `schemaString` of a Delta metaData action for a schema of stored types.
arrow::Result<std::string> ToDeltaSchemaString(const arrow::Schema& schema);

/// \brief The Arrow schema of a Delta `schemaString` (long -> int64, timestamp ->
/// timestamp[us, UTC], timestamp_ntz -> timestamp[us], decimal(p,s), array, map, struct).
arrow::Result<std::shared_ptr<arrow::Schema>> FromDeltaSchemaString(const std::string& text);

/// Whether the schema holds a timestamp without time zone (Delta's timestamp_ntz, a
/// table feature needing reader version 3 and writer version 7).
bool HasTimestampNtz(const arrow::Schema& schema);

/// DuckDB's name of a stored type (BIGINT, TIMESTAMPTZ, STRUCT("a" INTEGER), ...).
std::string DuckDbTypeName(const arrow::DataType& type);

/// A partition value as Delta's partitionValues map holds it (strings; dates
/// "2024-01-31", timestamps "2024-01-31 12:00:00.000000"), for a scalar of a stored type.
/// Null: std::nullopt is carried by the caller; partition columns must be primitive.
arrow::Result<std::string> PartitionValueText(const arrow::Scalar& value);

/// Whether a stored type can be a partition column (not nested, not binary, not float).
bool IsPartitionableType(const arrow::DataType& type);

}  // namespace arrowport::lake
