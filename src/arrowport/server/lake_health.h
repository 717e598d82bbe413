#pragma once

#include <string>
#include <vector>

#include "arrowport/query/lake_service.h"

namespace arrowport::server {

/// \brief The lake tables' upkeep as one JSON object, the same in the `health` action and
/// /healthz: {"state": "ok" | "upkeep_failing", "summary", "failing": N, "tables":
/// [{"stream", "state", "upkeep": {"failures", "failures_in_a_row", "retry_in_s",
/// "last_error", "compaction_deferred", "rewrite_limit_bytes"}}]}. "" when no lake
/// stream is published (the key is then left out). `with_details` false (callers who may
/// not see streams or the stores' URLs and errors): the state, the summary without
/// names, and the count only.
std::string LakeHealthJson(const std::vector<query::LakeService::Figures>& figures,
                           bool with_details);

}  // namespace arrowport::server
