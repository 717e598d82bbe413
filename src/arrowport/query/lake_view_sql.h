#pragma once

#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/lake/delta_log.h"
#include "arrowport/storage/files/lake_file_system.h"

namespace arrowport::query {

/// Adds what SQL reading `snapshot` needs served (its files' keys, its partition values)
/// to `served`.
void AddServed(const lake::Snapshot& snapshot, storage::LakeServed* served);

/// \brief DuckDB SQL reading `files` of a lake snapshot: DuckDB's Parquet reader over
/// them (through storage's lake file system, store `store`), the partition columns from
/// each file's `partitionValues` (as the Delta protocol says, not from folder names),
/// under a typed empty row set so every column of the Delta schema is there with its
/// type even before a file holds it. Filters on partition columns drop whole groups of
/// files. Nothing of the log's data becomes SQL text: files and partition values are named
/// by the numbers `stores` gave them (AddServed, then LakeStores::Register), column names
/// (checked when the schema was read) are quoted. An error when a file or value is not
/// served (any more). A DuckLake's rows kept in its catalog (data inlining) are read too,
/// unless `with_inlined_rows` is false (every part of a table read in parts but one).
arrow::Result<std::string> LakeSelectSql(const storage::LakeStores& stores,
                                         const std::string& store,
                                         const lake::Snapshot& snapshot,
                                         const std::vector<const lake::AddFile*>& files,
                                         bool with_inlined_rows = true);

/// The SQL of the view of a refused table: `schema`'s columns (one VARCHAR column
/// `refused` without one), and any read fails with the reason store `store` is refused
/// (LakeStores::Refuse); no rows once it is not.
std::string LakeRefusedSql(const std::string& store,
                           const std::shared_ptr<arrow::Schema>& schema);

}  // namespace arrowport::query
