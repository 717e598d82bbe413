#pragma once

#include <string>
#include <vector>

#include "arrowport/lake/delta_log.h"

namespace arrowport::server {

/// \brief DuckDB SQL reading `files` of a lake snapshot: DuckDB's Parquet reader over
/// them (through storage's lake file system, store `store`), the partition columns from
/// each file's `partitionValues` (as the Delta protocol says, not from folder names),
/// under a typed empty row set so every column of the Delta schema is there with its
/// type even before a file holds it. Filters on partition columns drop whole groups of
/// files. Every name and value from the log is quoted.
std::string LakeSelectSql(const std::string& store, const lake::Snapshot& snapshot,
                          const std::vector<const lake::AddFile*>& files);

}  // namespace arrowport::server
