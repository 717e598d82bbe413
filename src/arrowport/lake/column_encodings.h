#pragma once

#include <string>
#include <vector>

#include <parquet/types.h>

#include "arrow/type_fwd.h"

namespace arrowport::lake {

/// A column written without a Parquet dictionary, and its encoding.
struct UndictionariedColumn {
  std::string name;
  parquet::Encoding::type encoding;
};

/// \brief The columns of a new data file to write without a dictionary: those whose
/// first 8,192 rows (of `first_rows`) are at least 90% distinct. Their dictionary would
/// overflow its page within the first row group (131,072 rows of even 4-byte values at
/// 90% distinct need 460 KiB), so Parquet would hash every value into it until it falls
/// back to plain encoding, and keep the useless dictionary page. Narrow integers,
/// booleans and nested columns keep Parquet's default. Of these, integers (and dates and
/// timestamps) whose neighbours differ little are DELTA_BINARY_PACKED when
/// `delta_encodings` allows, the others plain.
std::vector<UndictionariedColumn> UndictionariedColumns(const arrow::RecordBatch& first_rows,
                                                        bool delta_encodings);

}  // namespace arrowport::lake
