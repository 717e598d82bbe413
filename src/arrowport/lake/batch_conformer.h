#pragma once

#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/config/config.h"
#include "arrowport/lake/delta_log.h"

namespace arrowport::lake {

/// \brief How a request's batches become rows of the table: the table's schema after this
/// request (its own when the table is new, evolved under add_columns), where each table
/// column comes from, and the partition columns.
struct ConformPlan {
  std::shared_ptr<arrow::Schema> table_schema;  ///< every column, partition ones included
  bool schema_changed = false;                  ///< needs a metaData action
  std::vector<std::string> partition_columns;
  /// table_schema minus partition columns (Delta), or all of it with Parquet field ids
  /// (DuckLake: files_hold_partition_columns).
  std::shared_ptr<arrow::Schema> file_schema;
  bool files_hold_partition_columns = false;
  std::vector<int> sources;        ///< per table column: input column, or -1 (nulls)
  std::vector<int> partition_fields;  ///< indexes of the partition columns in table_schema
  std::vector<std::string> dropped;   ///< input columns ignore_extra left out
};

/// \brief Plans `input` (a request's Arrow schema) against the table at `base` (version
/// -1: the table does not exist and `partition_by` makes it). Columns match by name.
/// Mismatches follow `policy` and are SchemaMismatch errors naming the column.
arrow::Result<ConformPlan> PlanConform(const arrow::Schema& input, const Snapshot& base,
                                       const std::vector<std::string>& partition_by,
                                       config::SchemaPolicy policy);

/// Whether data planned as `plan` still fits the table as `now` has it (a concurrent
/// writer may have changed its schema or partitioning).
bool StillFits(const ConformPlan& plan, const Snapshot& now);

/// The batch in the table's columns and stored types.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> Conform(const ConformPlan& plan,
                                                           const arrow::RecordBatch& input);

/// The rows of one partition of a conformed batch.
struct PartitionSlice {
  PartitionValues values;
  std::string folder;  ///< "day=2024-01-31/country=NL/" (escaped), "" when unpartitioned
  std::shared_ptr<arrow::RecordBatch> rows;  ///< in plan.file_schema
};

/// Splits a conformed batch by its partition values (one slice when unpartitioned).
arrow::Result<std::vector<PartitionSlice>> SplitByPartition(
    const ConformPlan& plan, const std::shared_ptr<arrow::RecordBatch>& conformed);

}  // namespace arrowport::lake
