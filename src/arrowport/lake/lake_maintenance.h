#pragma once

#include "arrow/result.h"
#include "arrowport/lake/lake_table.h"

namespace arrowport::lake {

/// What one upkeep round did.
struct UpkeepResult {
  int64_t files_compacted = 0;  ///< small files replaced
  int64_t files_written = 0;    ///< by compaction
  bool checkpointed = false;
  int64_t files_vacuumed = 0;   ///< deleted from the store
};

/// \brief Rewrites each partition's small files (under half of target_file_mb, two or
/// more) into files of target_file_mb, in one commit that removes them and adds the new
/// ones (dataChange false: readers of any snapshot see every row once). A concurrent
/// commit that removed one of them abandons the rewrite.
arrow::Result<UpkeepResult> Compact(LakeTable* table);

/// \brief Deletes data files no snapshot within retention_s needs: removed ones whose
/// removal is older, and files never committed (a writer that died) older than it.
arrow::Result<int64_t> Vacuum(LakeTable* table);

/// Compaction, a checkpoint when checkpoint_interval commits have passed since the last,
/// then vacuum (at most every retention period, or 10 minutes).
arrow::Status Upkeep(LakeTable* table, UpkeepResult* result = nullptr);

}  // namespace arrowport::lake
