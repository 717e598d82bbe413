#pragma once

// DuckLakeLog's commit, in two files (internal to the lake layer): ducklake_commit.cc
// reads the catalog, checks conflicts and makes the table and its columns;
// ducklake_commit_files.cc adds the data files and the statistics.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "arrow/status.h"
#include "arrow/type_fwd.h"
#include "arrowport/lake/catalog_connection.h"
#include "arrowport/lake/delta_log.h"

namespace arrowport::lake {

/// A live column of the table: its column_id and type.
struct LiveColumn {
  int64_t id = 0;
  std::shared_ptr<arrow::DataType> type;
};

/// What the data-file part of a commit needs, and what it changes.
struct FilesCommit {
  CatalogConnection* catalog = nullptr;
  std::string S;  ///< the new snapshot's id
  std::string L;  ///< the latest snapshot's id before it
  int64_t table_id = -1;
  std::map<std::string, LiveColumn> live;  ///< by name
  int64_t partition_id = -1;               ///< the live partitioning (-1: none)
  std::vector<std::string> partition_columns;
  std::vector<std::string> changes;        ///< changes_made entries, added to
  int64_t next_file_id = 0;                ///< advanced by each file
};

/// Ends the files a replace or merge removes, adds the commit's data files with their
/// column statistics and partition values, and updates the table's statistics.
arrow::Status CommitFiles(const CommitActions& commit, FilesCommit* files);

/// The entries of a changes_made list ("kind:value", split on commas outside quotes).
std::vector<std::pair<std::string, std::string>> ParseChanges(const std::string& text);

}  // namespace arrowport::lake
