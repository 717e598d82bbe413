#pragma once

// Internal to storage: the format DuckDB's workers convert a query's rows to Arrow in.

#include <duckdb/common/arrow/arrow_format.hpp>
#include <duckdb/main/retained_result_collection.hpp>

namespace arrowport::storage {

/// Rows a new unit's buffers are sized for. After a unit that ended full (at a cap): as
/// many rows `row_bytes` wide as `unit_bytes` holds, at most `unit_rows`. Otherwise (a
/// producer's first unit, or after one that ended early: the producer's end, a selective
/// query's row group), only the rows of the chunk it starts with, grown as rows come. At
/// least `rows_left` (the rest of that chunk, appended at once), at most `unit_rows`.
duckdb::idx_t RowsToReserve(bool last_unit_full, duckdb::idx_t row_bytes,
                            duckdb::idx_t rows_left, duckdb::idx_t unit_rows,
                            duckdb::idx_t unit_bytes);

/// \brief Throws duckdb::InvalidInputException when a UHUGEINT in `chunk`, at any depth,
/// is 10^38 or more. DuckDB's Arrow export writes a UHUGEINT as decimal128(38, 0) bit for
/// bit: 2^128-1 was read back as -1 (Arrow, JSON and CSV alike), and nothing from 10^38
/// up fits the type. Smaller values are exported as they are.
void RefuseUhugeintsBeyondArrow(duckdb::DataChunk& chunk);

/// \brief A query's rows as Arrow arrays, converted by whichever thread produces them
/// (each of DuckDB's workers), in units that end at `unit_rows` rows or at about
/// `unit_bytes` bytes, whichever comes first: DuckDB's own Arrow format ends a unit only
/// at a number of rows, and 122,880 rows of 10 KB strings would be one 1.2 GB array per
/// worker. After a unit that ended full, the next one's buffers are sized for the rows it
/// will hold (judged from the width of its first chunk; flat columns only: fixed-width,
/// strings, blobs): DuckDB's format sizes them for one 2,048-row chunk and grows them by
/// copying as rows arrive, six copies of every fixed-width column per unit. Streams only:
/// read through `duckdb::QueryResultStream<ArrowUnitFormat>` (a result DuckDB retains
/// whole would need a CopyPayload, which nothing here asks for).
class ArrowUnitFormat : public duckdb::ResultFormatBase<ArrowUnitFormat> {
 public:
  using T = duckdb::ArrowArrayWrapper;
  using GlobalState = duckdb::ArrowFormatGlobalState;
  static constexpr const char* NAME = "arrowport_arrow_units";

  ArrowUnitFormat(duckdb::idx_t unit_rows, duckdb::idx_t unit_bytes);

  const char* Name() const override;
  duckdb::unique_ptr<duckdb::ResultFormatGlobalState> InitGlobal(
      const duckdb::ResultFormatContext& context) override;
  duckdb::unique_ptr<duckdb::ResultFormatLocalState> InitLocal(
      duckdb::ResultFormatGlobalState& gstate) override;
  void AppendToUnit(duckdb::ResultFormatGlobalState& gstate,
                    duckdb::ResultFormatLocalState& lstate, duckdb::DataChunk& chunk) override;
  bool IsUnitFinished(duckdb::ResultFormatLocalState& lstate) override;
  duckdb::unique_ptr<duckdb::ResultUnit> FinishUnit(
      duckdb::ResultFormatGlobalState& gstate, duckdb::ResultFormatLocalState& lstate) override;

  /// The array a unit holds, owned by the caller from here on; null for null.
  static duckdb::unique_ptr<T> UnpackUnit(duckdb::unique_ptr<duckdb::ResultUnit> unit);

 private:
  const duckdb::idx_t unit_rows_;
  const duckdb::idx_t unit_bytes_;
};

}  // namespace arrowport::storage
