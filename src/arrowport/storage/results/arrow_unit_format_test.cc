#include "arrowport/storage/results/arrow_unit_format.h"

#include <gtest/gtest.h>

namespace arrowport::storage {
namespace arrow_unit_format_test {

TEST(ArrowUnitFormatTest, AUnitAfterAFullOneIsSizedForTheRowsItWillHold) {
  constexpr duckdb::idx_t kRows = 122880, kBytes = 8 << 20;
  // Narrow rows: the row cap ends the unit first, so all of it is reserved at once.
  EXPECT_EQ(RowsToReserve(true, 40, 2048, kRows, kBytes), kRows);
  // Wide rows: as many as the byte cap holds.
  EXPECT_EQ(RowsToReserve(true, 1024, 2048, kRows, kBytes), 8192u);
  // Rows wider than the byte cap: still the chunk's rows, which go in at once.
  EXPECT_EQ(RowsToReserve(true, 10 << 20, 2048, kRows, kBytes), 2048u);
  EXPECT_EQ(RowsToReserve(true, 10 << 20, 100, kRows, kBytes), 100u);
  // Never past the row cap, however narrow the rows or large the chunk.
  EXPECT_EQ(RowsToReserve(true, 0, 2048, 1000, kBytes), 1000u);
  EXPECT_EQ(RowsToReserve(true, 1, 4096, 1000, kBytes), 1000u);
}

// A producer's first unit, or one after a unit that ended early (a selective query's
// units end at each row group with a few rows): sized for its first chunk only, never
// for a full unit's rows that may not come.
TEST(ArrowUnitFormatTest, AUnitAfterAnEarlyEndIsSizedForItsChunk) {
  constexpr duckdb::idx_t kRows = 122880, kBytes = 8 << 20;
  EXPECT_EQ(RowsToReserve(false, 40, 2048, kRows, kBytes), 2048u);
  EXPECT_EQ(RowsToReserve(false, 40, 37, kRows, kBytes), 37u);
  EXPECT_EQ(RowsToReserve(false, 40, 4096, 1000, kBytes), 1000u);
}

}  // namespace arrow_unit_format_test
}  // namespace arrowport::storage
