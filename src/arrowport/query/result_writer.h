#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "arrow/result.h"
#include "arrow/io/type_fwd.h"
#include "arrow/type_fwd.h"

namespace arrowport::query {

/// Output formats for query results (the CLI, HTTP content negotiation). kTable is the
/// CLI's aligned text, written by cli/text_table.h, not by WriteResult.
enum class ResultFormat { kArrowStream, kArrowFile, kParquet, kCsv, kJson, kTable };

/// Accepts: arrow|arrows|ipc (stream), arrow-file|feather, parquet, csv, json, table.
arrow::Result<ResultFormat> ParseResultFormat(std::string_view name);

/// Whether `format` can hold columns of `schema`'s types (CSV has no nested columns,
/// Parquet no unions or intervals): Invalid naming the format, the refusal and the formats
/// that can, so a client is told before any byte of the result instead of getting a body
/// cut at its start. What depends on the values (CSV of a blob that is not UTF-8) is found
/// only as it is written.
arrow::Status CheckFormatFits(const std::shared_ptr<arrow::Schema>& schema,
                              ResultFormat format);

/// What depends on the values and is cheap to find before the first byte: a BIGNUM too
/// large for JSON or CSV text (bignum_text.h), or a VARIANT whose JSON cannot be written
/// (variant_text.h: made once more here), in `batch` (may be null).
arrow::Status CheckValuesFit(const arrow::RecordBatch* batch, ResultFormat format);

/// \brief Writes every batch of `reader` to `sink` in `format`, batch by batch. Returns
/// the number of rows written. kTable is refused (the CLI writes it).
arrow::Result<int64_t> WriteResult(arrow::RecordBatchReader* reader, ResultFormat format,
                                   const std::shared_ptr<arrow::io::OutputStream>& sink);

}  // namespace arrowport::query
