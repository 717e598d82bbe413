#pragma once

#include <string>

#include "arrow/status.h"
#include "arrowport/config/config.h"

namespace YAML {
class Node;
}

namespace arrowport::config {

/// Parses `streams.NAME.lake` (a mapping) into `lake`; errors name the file and key.
/// With `ducklake` (streams.NAME.ducklake), the table is named by catalog, data_path,
/// schema and table instead of url (FinishDuckLake makes the url).
arrow::Status ParseLakeSection(const YAML::Node& node, const std::string& prefix,
                               const std::string& source, LakeConfig* lake,
                               bool ducklake = false);

/// A DuckLake section's last step: the table name (`table`, else `default_table`) and
/// the url of the table's folder (DATA_PATH/SCHEMA/TABLE/).
arrow::Status FinishDuckLake(const std::string& prefix, const std::string& source,
                             const std::string& default_table, LakeConfig* lake);

/// "table", "lake" or "ducklake" (streams.NAME.sink; ducklake is a lake sink whose
/// LakeConfig::format the caller sets).
arrow::Result<Sink> ParseSink(const std::string& text);
const char* ToString(Sink sink);

}  // namespace arrowport::config
