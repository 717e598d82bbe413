#pragma once

#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/config/config.h"
#include "arrowport/ingest/ingest_request.h"
#include "arrowport/storage/core/column_info.h"

namespace arrowport::ingest {

/// The key under which a column name is matched: DuckDB resolves names
/// case-insensitively, so "Temp" in a stream fills table column "temp".
std::string ColumnKey(const std::string& name);

/// \brief How the incoming columns land in a table: the columns to add first (under
/// add_columns), then the table columns to fill and the incoming columns that fill them,
/// pairwise (for storage::InsertFrom).
struct ColumnPlan {
  std::string table;
  std::vector<storage::ColumnInfo> added;  // incoming columns the table must gain first
  std::vector<std::string> targets;        // table columns
  std::vector<std::string> sources;        // incoming columns, in the same order
};

/// \brief Matches incoming columns to table columns by name (never position) under
/// `policy`. Fails with a schema mismatch for a type that would not convert safely, an
/// unknown column under strict, a NOT NULL column the stream lacks, or no match at all.
arrow::Result<ColumnPlan> PlanColumns(const std::string& table,
                                      const std::vector<storage::ColumnInfo>& incoming,
                                      const std::vector<storage::ColumnInfo>& existing,
                                      config::SchemaPolicy policy);

/// True when writing `incoming` needs DDL on the table: create, replace or add columns.
bool NeedsDdl(const std::optional<std::vector<storage::ColumnInfo>>& current,
              const std::vector<storage::ColumnInfo>& incoming, WriteMode mode,
              config::SchemaPolicy policy);

/// For the appender path: incoming column indices and the table columns they fill.
struct AppendTargets {
  std::vector<int> indices;
  std::vector<std::string> names;
};

/// \brief The AppendTargets when every matched column has exactly the table's type and
/// the policy needs nothing else (no added column, every NOT NULL column filled);
/// nullopt when the data must go through SQL.
std::optional<AppendTargets> ExactTargets(const std::vector<storage::ColumnInfo>& incoming,
                                          const std::vector<storage::ColumnInfo>& existing,
                                          config::SchemaPolicy policy);

/// The batches' columns that fill `targets`, in its order.
arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> Project(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    const AppendTargets& targets);

}  // namespace arrowport::ingest
