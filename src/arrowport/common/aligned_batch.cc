#include "arrowport/common/aligned_batch.h"

#include <vector>

#include "arrow/memory_pool.h"
#include "arrow/util/align_util.h"

namespace arrowport {

arrow::Result<std::shared_ptr<arrow::RecordBatch>> AlignBuffers(
    std::shared_ptr<arrow::RecordBatch> batch) {
  std::vector<bool> needs_alignment;
  if (arrow::util::CheckAlignment(*batch, arrow::util::kValueAlignment, &needs_alignment)) {
    return batch;
  }
  return arrow::util::EnsureAlignment(std::move(batch), arrow::util::kValueAlignment,
                                      arrow::default_memory_pool());
}

}  // namespace arrowport
