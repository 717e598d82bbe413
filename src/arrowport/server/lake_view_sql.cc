#include "arrowport/server/lake_view_sql.h"

#include <map>

#include "arrow/type.h"
#include "arrowport/common/identifier.h"
#include "arrowport/lake/delta_schema.h"
#include "arrowport/storage/lake_file_system.h"

namespace arrowport::server {

namespace {

// A partition value as a typed SQL constant.
std::string PartitionConstant(const std::optional<std::string>& value,
                              const arrow::DataType& type) {
  const std::string type_name = lake::DuckDbTypeName(type);
  if (!value) return "CAST(NULL AS " + type_name + ")";
  if (type.id() == arrow::Type::TIMESTAMP &&
      !static_cast<const arrow::TimestampType&>(type).timezone().empty()) {
    // An instant: with its zone ("...Z") as we write it; zone-less text (other writers)
    // is UTC, whatever the session's time zone.
    const bool zoned = !value->empty() && (value->back() == 'Z' ||
                                           value->find('+', 10) != std::string::npos);
    if (!zoned) return "timezone('UTC', CAST(" + QuoteLiteral(*value) + " AS TIMESTAMP))";
  }
  return "CAST(" + QuoteLiteral(*value) + " AS " + type_name + ")";
}

}  // namespace

std::string LakeSelectSql(const std::string& store, const lake::Snapshot& snapshot,
                          const std::vector<const lake::AddFile*>& files) {
  std::string columns, typed;
  for (const auto& field : snapshot.schema->fields()) {
    if (!columns.empty()) {
      columns += ", ";
      typed += ", ";
    }
    columns += QuoteIdentifier(field->name());
    typed += "CAST(NULL AS " + lake::DuckDbTypeName(*field->type()) + ") AS " +
             QuoteIdentifier(field->name());
  }
  std::string sql = "SELECT " + columns + " FROM (SELECT " + typed + " WHERE false";
  const auto& partition_columns = snapshot.metadata.partition_columns;
  // Files by their partition values (in partition column order).
  std::map<std::vector<std::optional<std::string>>, std::vector<const lake::AddFile*>> groups;
  for (const auto* add : files) {
    std::vector<std::optional<std::string>> key;
    for (const auto& column : partition_columns) {
      auto it = add->partition_values.find(column);
      key.push_back(it == add->partition_values.end() ? std::nullopt : it->second);
    }
    groups[key].push_back(add);
  }
  // Partition columns a file may also hold (some writers keep them) are left out of it.
  std::string without_partitions = "*";
  if (!partition_columns.empty()) {
    std::string names;
    for (const auto& column : partition_columns) {
      names += (names.empty() ? "" : ", ") + QuoteLiteral(column);
    }
    without_partitions = "COLUMNS(lambda c: c NOT IN (" + names + "))";
  }
  for (const auto& [values, group] : groups) {
    std::string list;
    for (const auto* add : group) {
      list += (list.empty() ? "" : ", ") +
              QuoteLiteral(storage::LakeStores::PathOf(store, lake::KeyOfPath(add->path)));
    }
    sql += " UNION ALL BY NAME SELECT " + without_partitions;
    for (size_t p = 0; p < partition_columns.size(); ++p) {
      const int index = snapshot.schema->GetFieldIndex(partition_columns[p]);
      if (index < 0) continue;
      sql += ", " + PartitionConstant(values[p], *snapshot.schema->field(index)->type()) +
             " AS " + QuoteIdentifier(partition_columns[p]);
    }
    sql += " FROM read_parquet([" + list + "], union_by_name = true, hive_partitioning = false)";
  }
  return sql + ")";
}

}  // namespace arrowport::server
