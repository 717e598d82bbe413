#pragma once
// DuckDB's BIGNUM as the decimal text DuckDB writes for it. DuckDB exports a BIGNUM as
// Arrow's opaque extension (vendor "DuckDB", type "bignum") over its own encoding; the JSON
// result printed Arrow's text of the bytes and the CSV result refused the column.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::query {

/// The magnitude bytes a BIGNUM may have to be written as text: 1 KiB, 2,467 digits. The
/// digits cost quadratic time (about 0.1 ms at this size, 1.7 ms at 4 KiB); a larger
/// value is refused with a way out (Arrow, or DuckDB's own text by a cast to VARCHAR).
constexpr size_t kMaxBignumTextBytes = 1024;

/// True for DuckDB's BIGNUM as its Arrow export types it.
bool IsDuckDBBignum(const arrow::DataType& type);

/// The decimal text of one encoded BIGNUM ("-12345678901234567890123"); Invalid for bytes
/// that are not DuckDB's encoding or a value over kMaxBignumTextBytes.
arrow::Result<std::string> BignumText(std::string_view encoded);

/// Invalid (as BignumText's) when a BIGNUM in `column`, at any depth, is too large to be
/// written as text: asked of a result's first batch before the HTTP status line is sent.
/// A nested column's children are checked whole, past its slice: it errs on refusing.
arrow::Status CheckBignumsFitText(const arrow::Array& column);

/// A column of BIGNUMs (IsDuckDBBignum) as a large_utf8 column of their text.
arrow::Result<std::shared_ptr<arrow::Array>> BignumsAsText(const arrow::Array& column);

}  // namespace arrowport::query
