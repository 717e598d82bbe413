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
  /// Compaction and checkpoints waited: a round failed lately (UpkeepHealth's backoff).
  bool backed_off = false;
};

/// \brief Rewrites each partition's small files (under half of target_file_mb, two or
/// more) into files of target_file_mb, in one commit that removes them and adds the new
/// ones (dataChange false: readers of any snapshot see every row once). A concurrent
/// commit that removed one of them abandons the rewrite.
///
/// It never starts a rewrite it cannot finish: one commit rewrites at most
/// target_file_mb of files (the smallest first), and where the store says how much it
/// can take (a directory) at most half of that, so that ingest keeps room until vacuum
/// frees the replaced files (what did not fit is left for later, and said in the
/// table's UpkeepHealth). After a rewrite failed (on S3, which cannot say how much room
/// it has), the next takes at most half as much (UpkeepHealth::RewriteFailed). A rewrite
/// or commit that fails deletes what it wrote (unless the commit's outcome is unknown)
/// and ends the round with the error.
arrow::Result<UpkeepResult> Compact(LakeTable* table);

/// \brief Deletes data files no snapshot within retention_s needs: removed ones whose
/// removal is older, and files never committed (a writer that died) older than it;
/// never the files of a commit of this process whose outcome is unknown and may still
/// land (LakeTable::UnresolvedFiles).
arrow::Result<int64_t> Vacuum(LakeTable* table);

/// \brief One upkeep round: vacuum first when due (at most every retention period, or
/// 10 minutes; it only frees space), then compaction and a checkpoint when
/// checkpoint_interval commits have passed since the last, unless the table's
/// UpkeepHealth backs them off after a failed round. A failure of any step ends the
/// round, is recorded in the table's UpkeepHealth and returned.
arrow::Status Upkeep(LakeTable* table, UpkeepResult* result = nullptr);

}  // namespace arrowport::lake
