#include "arrowport/ingest/validating_reader.h"

#include <algorithm>

#include "arrow/array.h"
#include "arrow/util/byte_size.h"
#include "arrowport/common/aligned_batch.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/ingest/full_validation.h"
#include "arrowport/ingest/materialized_size.h"
#include "arrowport/ingest/variant_values.h"

namespace arrowport::ingest {

arrow::Status ValidatingReader::ReadNext(std::shared_ptr<arrow::RecordBatch>* out) {
  auto st = source_->ReadNext(out);
  if (st.ok() && *out != nullptr) st = Check(out, batches_++);
  if (!st.ok()) {
    // The source's own refusals (decoding, size limits, a client gone) are kept too.
    *out = nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_.ok()) error_ = st;
  }
  return st;
}

arrow::Status ValidatingReader::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

arrow::Status ValidatingReader::Check(std::shared_ptr<arrow::RecordBatch>* out,
                                      int64_t index) const {
  const arrow::RecordBatch& batch = **out;
  const int64_t bytes = arrow::util::TotalBufferSize(batch);
  if (bytes > max_batch_bytes_) {
    return TooLarge("record batch ", index, " holds ", bytes, " bytes, more than ",
                    max_batch_bytes_, " (limits.max_batch_bytes); send smaller batches");
  }
  // Columns without buffers (null type, empty structs, run-end encoded) can claim any
  // number of rows for free; DuckDB would still materialise every one of them.
  const int64_t columns = std::max(batch.num_columns(), 1);
  if (batch.num_rows() > max_batch_bytes_ / columns) {
    return TooLarge("record batch ", index, " claims ", batch.num_rows(), " rows of ",
                    columns, " columns, more values than limits.max_batch_bytes (",
                    max_batch_bytes_, ") allows");
  }
  if (!batch.schema()->Equals(*schema(), /*check_metadata=*/false)) {
    return arrow::Status::Invalid("record batch ", index,
                                  " does not match the stream's schema");
  }
  // Decoding is zero-copy: buffers sit at whatever address they had on the wire. Read
  // nothing through them (below, in DuckDB) before they are aligned; the size is bounded.
  ARROW_ASSIGN_OR_RAISE(*out, AlignBuffers(*out));
  return CheckValues(**out, index);
}

arrow::Status ValidatingReader::CheckValues(const arrow::RecordBatch& batch,
                                            int64_t index) const {
  // Structure first (buffer sizes, lengths: cheap), then what DuckDB would make of the
  // values, then the values themselves: full validation reads every value, which for
  // repeated views is the expanded size, so an expansion is refused before it is paid.
  auto invalid = [&](int i, const arrow::Status& st) {
    return arrow::Status::Invalid("record batch ", index, ", column '",
                                  batch.schema()->field(i)->name(),
                                  "' is not valid Arrow: ", st.message());
  };
  for (int i = 0; i < batch.num_columns(); ++i) {
    const auto& column = batch.column(i);
    arrow::Status st = column->length() == batch.num_rows()
                           ? column->Validate()
                           : arrow::Status::Invalid("has ", column->length(),
                                                    " values but the batch has ",
                                                    batch.num_rows(), " rows");
    if (!st.ok()) return invalid(i, st);
  }
  // Valid Arrow can repeat values for free (views, dictionaries, run-end encoding);
  // DuckDB copies every repetition, so the limit applies to what it will hold.
  int64_t materialized = 0;
  for (const auto& column : batch.columns()) {
    materialized += MaterializedBytes(*column->data());
    if (materialized > max_batch_bytes_) {
      return TooLarge("record batch ", index, " would take about ", materialized,
                      " bytes in DuckDB (repeated view, dictionary or run-end values "
                      "are copied per row), more than limits.max_batch_bytes (",
                      max_batch_bytes_, ")");
    }
  }
  for (int i = 0; i < batch.num_columns(); ++i) {
    auto st = ValidateColumnFull(*batch.column(i));
    if (st.ok()) st = CheckVariantValues(*batch.schema()->field(i), *batch.column(i)->data());
    if (!st.ok()) return invalid(i, st);
  }
  return arrow::Status::OK();
}

std::shared_ptr<ValidatingReader> MakeValidatingReader(
    std::shared_ptr<arrow::RecordBatchReader> source, int64_t max_batch_bytes) {
  return std::make_shared<ValidatingReader>(std::move(source), max_batch_bytes);
}

}  // namespace arrowport::ingest
