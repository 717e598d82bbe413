#pragma once

#include <string>

#include "arrow/status.h"
#include "arrowport/config/config.h"

namespace YAML {
class Node;
}

namespace arrowport::config {

/// Parses `streams.NAME.lake` (a mapping) into `lake`; errors name the file and key.
arrow::Status ParseLakeSection(const YAML::Node& node, const std::string& prefix,
                               const std::string& source, LakeConfig* lake);

/// "table" or "lake" (streams.NAME.sink).
arrow::Result<Sink> ParseSink(const std::string& text);
const char* ToString(Sink sink);

}  // namespace arrowport::config
