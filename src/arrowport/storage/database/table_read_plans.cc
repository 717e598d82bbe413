#include "arrowport/storage/database/table_read_plans.h"

#include <algorithm>
#include <utility>

#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/memory/allocation_guard.h"
#include "arrowport/storage/sandbox/parse_cache.h"

namespace arrowport::storage {

arrow::Result<TableReadPlans::Plan> TableReadPlans::PlanFor(duckdb_connection conn,
                                                            const std::string& sql,
                                                            const TableIdentity& table) {
  if (sql.size() > ParseCache::kMaxTextBytes) return nullptr;
  auto found = plans_.find(sql);
  if (found != plans_.end()) {
    // Made again when the text names another table now, or when DuckDB would plan it
    // again (a catalog change since: it would at every run).
    if (found->second.table == table && PlanIsCurrent(found->second.plan->get())) {
      found->second.last_used = ++uses_;
      return found->second.plan;
    }
    Forget(found);
  }
  auto plan = std::make_shared<PreparedHandle>();
  int64_t bytes = static_cast<int64_t>(sql.size());
  {
    AllocationGuard::PlanningScope planning;
    OptimizerOff unoptimized(conn);
    if (duckdb_prepare(conn, sql.c_str(), plan->out()) == DuckDBError) {
      const char* error = duckdb_prepare_error(plan->get());
      return TranslateDuckDBError(-1, error ? error : "cannot plan the statement");
    }
    bytes += planning.KeepFor(plan->get());
  }
  ++made_;
  if (!PlanIsCurrent(plan->get())) return nullptr;
  if (bytes > max_bytes_) return plan;  // serves this read only
  while (!plans_.empty() && (plans_.size() >= kMaxPlans || bytes_ + bytes > max_bytes_)) {
    auto least_recent = [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    };
    Forget(std::min_element(plans_.begin(), plans_.end(), least_recent));
  }
  plans_[sql] = Kept{table, plan, bytes, ++uses_};
  bytes_ += bytes;
  return plan;
}

void TableReadPlans::Forget(std::unordered_map<std::string, Kept>::iterator kept) {
  bytes_ -= kept->second.bytes;
  plans_.erase(kept);
}

}  // namespace arrowport::storage
