#pragma once

// Small pieces every part of the lake layer shares: the clock, ids, names of data files,
// the text of dates and timestamps.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrow/status.h"
#include "arrow/type_fwd.h"

namespace arrowport::lake {

/// Milliseconds since the epoch (Delta's timestamps).
int64_t NowMs();

/// A random UUID (version 4, 122 bits from the kernel's generator) as 36 characters.
std::string NewUuid();

/// Registers Arrow's compute kernels (min/max, take, dictionary encoding) once per
/// process; every lake entry point that computes calls it.
arrow::Status EnsureComputeKernels();

/// The key of a new data file in partition `folder` ("day=2024-01-31/" or ""):
/// part-00000-<uuid>.c000.<codec>.parquet, as Spark names them.
std::string NewDataFileKey(const std::string& folder, const std::string& compression);

/// The columns a table's data files hold: its schema without the partition columns.
std::shared_ptr<arrow::Schema> FileSchemaOf(const arrow::Schema& table,
                                            const std::vector<std::string>& partition_columns);

/// `text` with every byte outside [A-Za-z0-9] and `safe` written as %XX (upper case).
std::string PercentEncode(const std::string& text, const char* safe);

/// "2024-01-31" for days since the epoch.
std::string FormatDate(int64_t days);

/// A timestamp (microseconds since the epoch) as Delta writes them.
enum class TimestampText {
  kPartitionNtz,  ///< "2024-01-31 12:00:00.000000" (timestamp_ntz partition values)
  kPartitionUtc,  ///< "2024-01-31T12:00:00.000000Z" (timestamp partition values, in UTC)
  kStatsMin,      ///< "2024-01-31T12:00:00.000Z": milliseconds, rounded down
  kStatsMax,      ///< the same rounded up, so it still bounds the column
};
std::string FormatTimestamp(int64_t micros, TimestampText style, bool utc);

}  // namespace arrowport::lake
