#include "arrowport/server/lake_health.h"

#include <nlohmann/json.hpp>

namespace arrowport::server {

using json = nlohmann::json;

namespace {

int64_t Seconds(int64_t ms) { return (ms + 999) / 1000; }

}  // namespace

std::string LakeHealthJson(const std::vector<query::LakeService::Figures>& figures,
                           bool with_details) {
  if (figures.empty()) return "";
  json tables = json::array();
  int64_t failing = 0;
  std::string first;  // the first failing table, for the summary
  for (const auto& f : figures) {
    const auto& upkeep = f.upkeep;
    if (upkeep.failures_in_a_row > 0) {
      ++failing;
      if (first.empty()) {
        first = f.stream + ": " + std::to_string(upkeep.failures_in_a_row) +
                " failures in a row, next try in " +
                std::to_string(Seconds(upkeep.retry_in_ms)) + " s: " + upkeep.last_error;
      }
    }
    json entry = {{"failures", upkeep.failures},
                  {"failures_in_a_row", upkeep.failures_in_a_row},
                  {"retry_in_s", Seconds(upkeep.retry_in_ms)}};
    if (!upkeep.last_error.empty()) entry["last_error"] = upkeep.last_error;
    if (!upkeep.compaction_deferred.empty()) {
      entry["compaction_deferred"] = upkeep.compaction_deferred;
    }
    if (upkeep.rewrite_limit_bytes > 0) {
      entry["rewrite_limit_bytes"] = upkeep.rewrite_limit_bytes;
    }
    tables.push_back(
        {{"stream", f.stream}, {"state", f.state}, {"upkeep", std::move(entry)}});
  }
  json out = {{"state", failing > 0 ? "upkeep_failing" : "ok"}, {"failing", failing}};
  if (failing == 0) {
    out["summary"] = "ok";
  } else if (with_details) {
    out["summary"] = "lake upkeep failing for " + std::to_string(failing) + " table" +
                     (failing > 1 ? "s" : "") + " (" + first + ")";
  } else {
    out["summary"] = "lake upkeep failing for " + std::to_string(failing) + " table" +
                     (failing > 1 ? "s" : "");
  }
  if (with_details) out["tables"] = std::move(tables);
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace arrowport::server
