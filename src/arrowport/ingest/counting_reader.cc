#include "arrowport/ingest/counting_reader.h"

#include "arrow/util/byte_size.h"

namespace arrowport::ingest {

arrow::Status CountingReader::ReadNext(std::shared_ptr<arrow::RecordBatch>* out) {
  ARROW_RETURN_NOT_OK(source_->ReadNext(out));
  if (*out) {
    rows_ += (*out)->num_rows();
    batches_ += 1;
    bytes_ += arrow::util::TotalBufferSize(**out);
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::ingest
