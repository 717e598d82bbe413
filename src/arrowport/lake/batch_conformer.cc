#include "arrowport/lake/batch_conformer.h"

#include <cctype>
#include <map>

#include "arrow/array.h"
#include "arrow/builder.h"
#include "arrow/compute/api_vector.h"
#include "arrow/compute/cast.h"
#include "arrow/record_batch.h"
#include "arrow/type.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/data_file_writer.h"
#include "arrowport/lake/lake_files.h"
#include "arrowport/lake/delta_schema.h"

namespace arrowport::lake {

namespace {

// The longest folder name a file system takes (NAME_MAX), and the longest folder path of
// one row's partitions: S3 keys end at 1,024 bytes, and the table's prefix and the file's
// name need the rest.
constexpr size_t kMaxFolderNameBytes = 255;
constexpr size_t kMaxPartitionFolderBytes = 768;

int Rank(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::INT8: return 1;
    case arrow::Type::INT16: return 2;
    case arrow::Type::INT32: return 3;
    case arrow::Type::INT64: return 4;
    default: return 0;
  }
}

// Whether every value of `from` (a stored type) fits a `to` column without loss.
bool Widens(const arrow::DataType& from, const arrow::DataType& to) {
  if (from.Equals(to, /*check_metadata=*/false)) return true;
  if (Rank(from.id()) > 0 && Rank(to.id()) > 0) return Rank(from.id()) <= Rank(to.id());
  if (from.id() == arrow::Type::FLOAT && to.id() == arrow::Type::DOUBLE) return true;
  if ((from.id() == arrow::Type::INT8 || from.id() == arrow::Type::INT16 ||
       from.id() == arrow::Type::INT32) &&
      to.id() == arrow::Type::DOUBLE) {
    return true;
  }
  if (from.id() == arrow::Type::DECIMAL128 && to.id() == arrow::Type::DECIMAL128) {
    const auto& a = static_cast<const arrow::Decimal128Type&>(from);
    const auto& b = static_cast<const arrow::Decimal128Type&>(to);
    return b.scale() >= a.scale() && b.precision() - b.scale() >= a.precision() - a.scale();
  }
  // Nested types: the same shape, children widening (nullability aside).
  if (from.id() != to.id() || from.num_fields() != to.num_fields() || from.num_fields() == 0) {
    return false;
  }
  for (int i = 0; i < from.num_fields(); ++i) {
    if (from.id() == arrow::Type::STRUCT && from.field(i)->name() != to.field(i)->name()) {
      return false;
    }
    if (!from.field(i)->type()->Equals(*to.field(i)->type(), false)) return false;
  }
  return true;
}

std::string Lower(const std::string& name) {
  std::string out = name;
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Delta column names are case-insensitive: `Temp` is the table's `temp`.
int FindField(const arrow::Schema& schema, const std::string& name) {
  const int exact = schema.GetFieldIndex(name);
  if (exact >= 0) return exact;
  const std::string wanted = Lower(name);
  for (int i = 0; i < schema.num_fields(); ++i) {
    if (Lower(schema.field(i)->name()) == wanted) return i;
  }
  return -1;
}

}  // namespace

arrow::Result<ConformPlan> PlanConform(const arrow::Schema& input, const Snapshot& base,
                                       const std::vector<std::string>& partition_by,
                                       config::SchemaPolicy policy) {
  ARROW_RETURN_NOT_OK(EnsureComputeKernels());
  ARROW_ASSIGN_OR_RAISE(auto stored, DeltaStoredSchema(input));
  ConformPlan plan;
  for (int i = 0; i < stored->num_fields(); ++i) {
    if (FindField(*stored, stored->field(i)->name()) != i) {
      return SchemaMismatch("the stream has two columns named '", stored->field(i)->name(),
                            "' (Delta column names ignore case)");
    }
  }
  if (base.version < 0 || !base.schema) {
    plan.table_schema = stored;
    plan.schema_changed = true;
    plan.partition_columns = partition_by;
    for (int i = 0; i < stored->num_fields(); ++i) plan.sources.push_back(i);
  } else {
    plan.partition_columns = base.metadata.partition_columns;
    arrow::FieldVector fields = base.schema->fields();
    for (const auto& field : fields) {
      const int source = FindField(*stored, field->name());
      if (source < 0 && !field->nullable()) {
        return SchemaMismatch("column '", field->name(),
                              "' is NOT NULL in the Delta table and missing from the stream");
      }
      if (source >= 0 && !Widens(*stored->field(source)->type(), *field->type())) {
        return SchemaMismatch("column '", field->name(), "' is ", field->type()->ToString(),
                              " in the Delta table; the stream sends ",
                              stored->field(source)->type()->ToString());
      }
      plan.sources.push_back(source);
    }
    for (int i = 0; i < stored->num_fields(); ++i) {
      const auto& field = stored->field(i);
      if (FindField(*base.schema, field->name()) >= 0) continue;
      if (policy == config::SchemaPolicy::kStrict) {
        return SchemaMismatch("column '", field->name(),
                              "' is not in the Delta table (schema_policy strict)");
      }
      if (policy == config::SchemaPolicy::kIgnoreExtra) {
        plan.dropped.push_back(field->name());
        continue;
      }
      fields.push_back(field->WithNullable(true));
      plan.sources.push_back(i);
      plan.schema_changed = true;
    }
    plan.table_schema = arrow::schema(std::move(fields));
  }
  for (const auto& column : plan.partition_columns) {
    const int index = plan.table_schema->GetFieldIndex(column);
    if (index < 0 || plan.sources[index] < 0) {
      return SchemaMismatch("partition column '", column, "' is missing from the stream");
    }
    const auto& type = *plan.table_schema->field(index)->type();
    if (!IsPartitionableType(type)) {
      return arrow::Status::Invalid("partition column '", column, "' has type ",
                                    type.ToString(), ", which cannot partition");
    }
    plan.partition_fields.push_back(index);
  }
  plan.file_schema = FileSchemaOf(*plan.table_schema, plan.partition_columns);
  if (plan.file_schema->num_fields() == 0) {
    return arrow::Status::Invalid("the stream has no column besides its partition columns");
  }
  return plan;
}

bool StillFits(const ConformPlan& plan, const Snapshot& now) {
  if (now.version < 0 || !now.schema) return false;
  if (now.metadata.partition_columns != plan.partition_columns) return false;
  // Every column we write must be in the table with the type we write.
  for (const auto& field : plan.table_schema->fields()) {
    const int index = now.schema->GetFieldIndex(field->name());
    if (index < 0) return false;
    if (!now.schema->field(index)->type()->Equals(*field->type(), false)) return false;
  }
  return true;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> Conform(const ConformPlan& plan,
                                                           const arrow::RecordBatch& input) {
  arrow::ArrayVector columns;
  columns.reserve(plan.sources.size());
  for (size_t i = 0; i < plan.sources.size(); ++i) {
    const auto& type = plan.table_schema->field(static_cast<int>(i))->type();
    if (plan.sources[i] < 0) {
      ARROW_ASSIGN_OR_RAISE(auto nulls, arrow::MakeArrayOfNull(type, input.num_rows()));
      columns.push_back(std::move(nulls));
      continue;
    }
    auto column = input.column(plan.sources[i]);
    if (!column->type()->Equals(*type, false)) {
      ARROW_ASSIGN_OR_RAISE(column, arrow::compute::Cast(*column, type));
    }
    const auto& field = plan.table_schema->field(static_cast<int>(i));
    if (!field->nullable() && column->null_count() > 0) {
      return SchemaMismatch("column '", field->name(), "' is NOT NULL in the Delta table; the ",
                            "stream sends ", column->null_count(), " null(s)");
    }
    columns.push_back(std::move(column));
  }
  return arrow::RecordBatch::Make(plan.table_schema, input.num_rows(), std::move(columns));
}

namespace {

// The value of partition column `name` at `row` of its dictionary encoding, into
// `slice`: its partition values and its folder (`name=value/`).
arrow::Status AddPartitionValue(const std::string& name,
                                const arrow::DictionaryArray& dict, int64_t row,
                                PartitionSlice* slice) {
  const int64_t value_index = dict.GetValueIndex(row);
  ARROW_ASSIGN_OR_RAISE(auto scalar, dict.dictionary()->GetScalar(value_index));
  std::string folder_value = "__HIVE_DEFAULT_PARTITION__";
  std::string text;
  if (scalar->is_valid) {
    ARROW_ASSIGN_OR_RAISE(text, PartitionValueText(*scalar));
  }
  // Delta reads an empty partition value as null: write it so.
  if (scalar->is_valid && !text.empty()) {
    slice->values[name] = text;
    folder_value = EscapePartitionValue(text);
  } else {
    slice->values[name] = std::nullopt;
  }
  std::string component = EscapePartitionValue(name) + "=" + folder_value;
  if (component.size() > kMaxFolderNameBytes) {
    // A file system refuses a longer name (ENAMETOOLONG), which read as a store
    // failure and invited a retry that could never succeed.
    return arrow::Status::Invalid(
        "partition column '", name, "': the value's folder name '",
        component.substr(0, 60), "...' is ", component.size(), " bytes encoded; a "
        "folder name holds at most ", kMaxFolderNameBytes,
        ": partition by a column with shorter values");
  }
  slice->folder += component + "/";
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::vector<PartitionSlice>> SplitByPartition(
    const ConformPlan& plan, const std::shared_ptr<arrow::RecordBatch>& conformed) {
  arrow::ArrayVector file_columns;
  for (int i = 0; i < conformed->num_columns(); ++i) {
    bool partition = false;
    for (int p : plan.partition_fields) partition |= p == i;
    if (!partition || plan.files_hold_partition_columns) {
      file_columns.push_back(conformed->column(i));
    }
  }
  auto rows = arrow::RecordBatch::Make(plan.file_schema, conformed->num_rows(),
                                       std::move(file_columns));
  if (plan.partition_fields.empty()) return std::vector<PartitionSlice>{{{}, "", rows}};
  // Each row's tuple of the partition columns' dictionary indexes names its partition.
  const int64_t n = conformed->num_rows();
  std::vector<std::shared_ptr<arrow::DictionaryArray>> encoded;
  arrow::compute::DictionaryEncodeOptions options(
      arrow::compute::DictionaryEncodeOptions::ENCODE);
  for (int index : plan.partition_fields) {
    ARROW_ASSIGN_OR_RAISE(auto datum,
                          arrow::compute::DictionaryEncode(conformed->column(index), options));
    encoded.push_back(std::static_pointer_cast<arrow::DictionaryArray>(datum.make_array()));
  }
  std::map<std::vector<int64_t>, size_t> group_of;
  std::vector<std::vector<int64_t>> members;
  std::vector<int64_t> first_row;
  std::vector<int64_t> key(encoded.size());
  for (int64_t row = 0; row < n; ++row) {
    for (size_t p = 0; p < encoded.size(); ++p) key[p] = encoded[p]->GetValueIndex(row);
    auto [it, fresh] = group_of.emplace(key, members.size());
    if (fresh) {
      members.emplace_back();
      first_row.push_back(row);
    }
    members[it->second].push_back(row);
  }
  std::vector<PartitionSlice> slices;
  for (size_t g = 0; g < members.size(); ++g) {
    PartitionSlice slice;
    for (size_t p = 0; p < plan.partition_fields.size(); ++p) {
      ARROW_RETURN_NOT_OK(AddPartitionValue(plan.partition_columns[p], *encoded[p],
                                            first_row[g], &slice));
    }
    if (slice.folder.size() > kMaxPartitionFolderBytes) {
      return arrow::Status::Invalid(
          "the partition folders of one row are ", slice.folder.size(), " bytes encoded; at "
          "most ", kMaxPartitionFolderBytes, " fit an object key with the table's own path: "
          "partition by fewer or shorter columns");
    }
    if (members.size() == 1) {
      slice.rows = rows;
    } else {
      arrow::Int64Builder indices;
      ARROW_RETURN_NOT_OK(indices.AppendValues(members[g]));
      ARROW_ASSIGN_OR_RAISE(auto index_array, indices.Finish());
      ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(rows, index_array));
      slice.rows = taken.record_batch();
    }
    slices.push_back(std::move(slice));
  }
  return slices;
}

}  // namespace arrowport::lake
