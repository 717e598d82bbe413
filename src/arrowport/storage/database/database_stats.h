#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arrow/result.h"

namespace arrowport::storage {

class Database;

/// What DuckDB says of its database and memory (the metrics' and status page's figures).
struct DatabaseStats {
  int64_t block_size = 0;
  int64_t total_blocks = 0;  ///< blocks of the database file (free ones included)
  int64_t used_blocks = 0;
  int64_t wal_bytes = 0;     ///< the write-ahead log's size on disk (0: none)
  struct Memory {
    std::string tag;  ///< DuckDB's memory tag (BASE_TABLE, HASH_TABLE, ...)
    int64_t memory_bytes = 0;
    int64_t temporary_bytes = 0;  ///< spilled to temporary files
  };
  std::vector<Memory> memory;
  int64_t file_bytes() const { return block_size * total_blocks; }
  int64_t memory_bytes() const;
};

/// \brief Reads `PRAGMA database_size`, `duckdb_memory()` and the WAL's size, on a
/// connection of its own (the server's view: clients' SQL cannot read these).
arrow::Result<DatabaseStats> ReadDatabaseStats(Database* database);

/// \brief Bytes table `table` (of the main schema) takes: the database file's blocks
/// holding its checkpointed rows (blocks it shares with other tables count whole), plus
/// the uncompressed size of the rows not checkpointed yet (in the WAL, or in memory for an
/// in-memory database). Walks the table's segment list (no data): costs milliseconds per
/// million rows.
arrow::Result<int64_t> ReadTableBytes(Database* database, const std::string& table);

/// Bytes of `values` values of DuckDB's storage segment type `segment_type` (as
/// pragma_storage_info names it) held uncompressed; `string_bytes`: their strings' total
/// length (VARCHAR, BLOB). Unknown types count 8 bytes a value.
int64_t SegmentBytes(const std::string& segment_type, int64_t values, int64_t string_bytes);

}  // namespace arrowport::storage
