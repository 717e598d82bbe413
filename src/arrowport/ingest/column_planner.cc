#include "arrowport/ingest/column_planner.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "arrow/record_batch.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::ingest {

using storage::ColumnInfo;

std::string ColumnKey(const std::string& name) {
  std::string out = name;
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

arrow::Result<ColumnPlan> PlanColumns(const std::string& table,
                                      const std::vector<ColumnInfo>& incoming,
                                      const std::vector<ColumnInfo>& existing,
                                      config::SchemaPolicy policy) {
  const char* policy_name = config::ToString(policy);
  std::map<std::string, const ColumnInfo*> by_name;
  for (const auto& column : existing) by_name[ColumnKey(column.name)] = &column;
  ColumnPlan plan;
  plan.table = table;
  auto& targets = plan.targets;
  auto& sources = plan.sources;
  std::map<std::string, bool> matched;
  for (const auto& column : incoming) {
    auto it = by_name.find(ColumnKey(column.name));
    if (it == by_name.end()) {
      if (policy == config::SchemaPolicy::kIgnoreExtra) continue;
      if (policy == config::SchemaPolicy::kStrict) {
        return SchemaMismatch("column '", column.name, "' (", column.type.sql,
                              ") does not exist in table ", table,
                              " (schema_policy=strict; use add_columns or "
                              "ignore_extra to accept it)");
      }
      plan.added.push_back(column);
      targets.push_back(column.name);
      sources.push_back(column.name);
      continue;
    }
    const ColumnInfo& target = *it->second;
    if (!storage::IsSafeConversion(column.type, target.type)) {
      return SchemaMismatch("column '", column.name, "' is ", column.type.sql, " but table ",
                            table, ".", target.name, " is ", target.type.sql,
                            " (schema_policy=", policy_name, ")");
    }
    matched[ColumnKey(target.name)] = true;
    targets.push_back(target.name);
    sources.push_back(column.name);
  }
  for (const auto& column : existing) {
    if (!matched.count(ColumnKey(column.name)) && !column.nullable) {
      return SchemaMismatch("table ", table, ".", column.name,
                            " is NOT NULL but the stream has no column '", column.name,
                            "'");
    }
  }
  if (targets.empty()) {
    return SchemaMismatch("no column of the stream matches a column of table ", table);
  }
  return plan;
}

bool NeedsDdl(const std::optional<std::vector<ColumnInfo>>& current,
              const std::vector<ColumnInfo>& incoming, WriteMode mode,
              config::SchemaPolicy policy) {
  if (!current || mode != WriteMode::kAppend) return true;
  if (policy != config::SchemaPolicy::kAddColumns) return false;
  std::map<std::string, bool> known;
  for (const auto& column : *current) known[ColumnKey(column.name)] = true;
  for (const auto& column : incoming) {
    if (!known.count(ColumnKey(column.name))) return true;
  }
  return false;
}

std::optional<AppendTargets> ExactTargets(const std::vector<ColumnInfo>& incoming,
                                          const std::vector<ColumnInfo>& existing,
                                          config::SchemaPolicy policy) {
  std::map<std::string, const ColumnInfo*> by_name;
  for (const auto& column : existing) by_name[ColumnKey(column.name)] = &column;
  AppendTargets targets;
  std::map<std::string, bool> filled;
  for (size_t i = 0; i < incoming.size(); ++i) {
    auto it = by_name.find(ColumnKey(incoming[i].name));
    if (it == by_name.end()) {
      if (policy != config::SchemaPolicy::kIgnoreExtra) return std::nullopt;
      continue;
    }
    if (!storage::SameType(incoming[i].type, it->second->type)) return std::nullopt;
    targets.indices.push_back(static_cast<int>(i));
    targets.names.push_back(it->second->name);
    filled[it->first] = true;
  }
  for (const auto& column : existing) {
    if (!column.nullable && !filled.count(ColumnKey(column.name))) return std::nullopt;
  }
  if (targets.indices.empty()) return std::nullopt;
  return targets;
}

arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> Project(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    const AppendTargets& targets) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> projected;
  for (const auto& batch : batches) {
    if (static_cast<int>(targets.indices.size()) == batch->num_columns()) {
      projected.push_back(batch);
    } else {
      ARROW_ASSIGN_OR_RAISE(auto selected, batch->SelectColumns(targets.indices));
      projected.push_back(std::move(selected));
    }
  }
  return projected;
}

}  // namespace arrowport::ingest
