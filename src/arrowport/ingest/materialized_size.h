#pragma once

#include <cstdint>

#include "arrow/type_fwd.h"

namespace arrowport::ingest {

/// \brief About how many bytes DuckDB materialises for `array`, which must be structurally
/// valid (Array::Validate: buffer sizes and lengths); values need not be (it runs before
/// the full validation, so that an expansion is refused before that reads it all):
/// its values as rows, not its buffers as sent. They differ when Arrow lets values be
/// repeated for free: string/binary views and list views may all point at the same bytes,
/// dictionary indices repeat their values, run-end encoding repeats one value per run;
/// DuckDB copies each repetition. For other types it is the buffers' size.
int64_t MaterializedBytes(const arrow::ArrayData& array);

}  // namespace arrowport::ingest
