#pragma once

#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/storage/core/column_info.h"

namespace arrowport::ingest {

class CountingReader;
struct WriteContext;

/// \brief per_request commits: all or nothing. One INSERT scans the whole request as it
/// arrives, in one transaction with the table's set-up and the idempotency record. Small
/// requests to a known table go through SmallRequestWriter first; a plain append to a
/// table whose cached columns already fit is one INSERT in autocommit (the fast path).
class PerRequestWriter {
 public:
  explicit PerRequestWriter(WriteContext* ctx) : ctx_(ctx) {}

  arrow::Status Write();

 private:
  /// The fast path; returns false (nothing done) when the cached table does not fit.
  arrow::Result<bool> TryFastAppend(const std::string& relation,
                                    const std::vector<storage::ColumnInfo>& incoming,
                                    const CountingReader& counting);
  /// Set-up, INSERT and log row in one transaction (the stream is dropped after).
  arrow::Status WriteInTransaction(const std::string& relation,
                                   const std::vector<storage::ColumnInfo>& incoming,
                                   const CountingReader& counting,
                                   arrow::RecordBatchReader* input);
  void TakeCounts(const CountingReader& counting);

  WriteContext* ctx_;
};

}  // namespace arrowport::ingest
