#pragma once
// DuckDB's VARIANT as JSON text. DuckDB exports a VARIANT as Arrow's arrow.parquet.variant
// extension over a struct of its Parquet variant encoding (metadata, value): the JSON
// result wrote those two blobs as escaped bytes, and the CSV result refused the column.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "arrow/result.h"
#include "arrow/type_fwd.h"

namespace arrowport::query {

/// How much JSON text one variant value may become. Text grows with what the value
/// repeats: an object key of 1 MiB in the metadata, named by each of 100,000 small
/// objects, is 100 GB of text from 2 MB of data. Past this the value is refused, with
/// the ways out (Arrow; DuckDB's own text by a cast to VARCHAR).
constexpr size_t kMaxVariantTextBytes = size_t{16} << 20;

/// True for Arrow's arrow.parquet.variant extension type.
bool IsParquetVariantType(const arrow::DataType& type);

/// True for a column of variants: the extension type, or its struct storage with the
/// extension named in the field's metadata, as Arrow imports DuckDB's VARIANT (Arrow
/// does not register the type).
bool IsParquetVariant(const arrow::Field& field);

/// Appends the variant value `value`, whose keys are in `metadata` (the Parquet variant
/// encoding, version 1), to `out` as JSON: objects, arrays, strings, numbers (decimals
/// exact), true, false and null as themselves; dates, times and timestamps as the JSON
/// result writes such columns (time_text.h); binaries as DuckDB's blob text; UUIDs in
/// their 8-4-4-4-12 form; NaN and infinities as strings, as for a DOUBLE column. Invalid
/// for bytes that are not that encoding (every size and offset is checked against the
/// bytes present), nesting deeper than 256 levels, or text past kMaxVariantTextBytes.
arrow::Status AppendVariantJson(std::string_view metadata, std::string_view value,
                                std::string* out);

/// \brief A column of variants (one IsParquetVariant names: the extension array or its
/// struct storage) with its metadata and value children found once, for its rows.
class VariantColumn {
 public:
  static arrow::Result<VariantColumn> Of(const arrow::Array& column);
  /// AppendVariantJson of row `row` (not null).
  arrow::Status AppendJson(int64_t row, std::string* out) const;

 private:
  std::shared_ptr<arrow::Array> metadata_;
  std::shared_ptr<arrow::Array> value_;
};

/// The VariantColumn of `column` when `field` names variants (IsParquetVariant); else none.
arrow::Result<std::optional<VariantColumn>> VariantColumnOf(const arrow::Field& field,
                                                            const arrow::Array& column);

/// AppendVariantJson of the value at `row` of `variant` (as for VariantColumn; not null at
/// `row`): for a single value.
arrow::Status AppendVariantJsonAt(const arrow::Array& variant, int64_t row, std::string* out);

/// OK when every variant of `column` (as for AppendVariantJsonAt) can be written as
/// text; made one at a time, none kept.
arrow::Status CheckVariantsWritable(const arrow::Array& column);

/// A column of variants (as for AppendVariantJsonAt) as a large_utf8 column of their
/// JSON text.
arrow::Result<std::shared_ptr<arrow::Array>> VariantsAsText(const arrow::Array& column);

}  // namespace arrowport::query
