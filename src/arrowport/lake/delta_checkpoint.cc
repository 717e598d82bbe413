// Reading a Delta checkpoint (a Parquet file holding one action per row, in struct
// columns named like the actions): each row becomes the JSON action a commit file would
// hold and goes through ParseCommit, so both sources share one parser.
#include <cstdio>

#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>

#include "arrow/array.h"
#include "arrow/builder.h"
#include "arrow/io/memory.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/lake/delta_log.h"
#include "arrowport/lake/json_text.h"

namespace arrowport::lake {

namespace {

using nlohmann::json;

// The checkpoint's action columns are a few levels deep; deeper values are not ours.
constexpr int kMaxDepth = 16;

json JsonOf(const arrow::Scalar& scalar, int depth = 0) {
  if (!scalar.is_valid || depth > kMaxDepth) return nullptr;
  switch (scalar.type->id()) {
    case arrow::Type::BOOL: return static_cast<const arrow::BooleanScalar&>(scalar).value;
    case arrow::Type::INT8: return static_cast<const arrow::Int8Scalar&>(scalar).value;
    case arrow::Type::INT16: return static_cast<const arrow::Int16Scalar&>(scalar).value;
    case arrow::Type::INT32: return static_cast<const arrow::Int32Scalar&>(scalar).value;
    case arrow::Type::INT64: return static_cast<const arrow::Int64Scalar&>(scalar).value;
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
      return std::string(static_cast<const arrow::BaseBinaryScalar&>(scalar).view());
    case arrow::Type::STRUCT: {
      const auto& s = static_cast<const arrow::StructScalar&>(scalar);
      json out = json::object();
      for (int i = 0; i < s.type->num_fields(); ++i) {
        out[s.type->field(i)->name()] = JsonOf(*s.value[i], depth + 1);
      }
      return out;
    }
    case arrow::Type::MAP: {
      const auto& m = static_cast<const arrow::MapScalar&>(scalar);
      json out = json::object();
      const auto& entries = static_cast<const arrow::StructArray&>(*m.value);
      for (int64_t i = 0; i < entries.length(); ++i) {
        auto key = entries.field(0)->GetScalar(i);
        auto value = entries.field(1)->GetScalar(i);
        if (!key.ok() || !value.ok()) continue;
        json k = JsonOf(**key, depth + 1);
        if (k.is_string()) out[k.get<std::string>()] = JsonOf(**value, depth + 1);
      }
      return out;
    }
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST: {
      const auto& l = static_cast<const arrow::BaseListScalar&>(scalar);
      json out = json::array();
      for (int64_t i = 0; i < l.value->length(); ++i) {
        auto item = l.value->GetScalar(i);
        if (item.ok()) out.push_back(JsonOf(**item, depth + 1));
      }
      return out;
    }
    default:
      return scalar.ToString();
  }
}

// The checkpoint's columns (protocol spec "Checkpoint Schema"), one per action.
std::shared_ptr<arrow::Schema> CheckpointSchema() {
  auto string_map = arrow::map(arrow::utf8(), arrow::utf8());
  auto strings = arrow::list(arrow::utf8());
  return arrow::schema({
      arrow::field("txn", arrow::struct_({arrow::field("appId", arrow::utf8()),
                                          arrow::field("version", arrow::int64()),
                                          arrow::field("lastUpdated", arrow::int64())})),
      arrow::field("add", arrow::struct_({arrow::field("path", arrow::utf8()),
                                          arrow::field("partitionValues", string_map),
                                          arrow::field("size", arrow::int64()),
                                          arrow::field("modificationTime", arrow::int64()),
                                          arrow::field("dataChange", arrow::boolean()),
                                          arrow::field("stats", arrow::utf8())})),
      arrow::field("remove",
                   arrow::struct_({arrow::field("path", arrow::utf8()),
                                   arrow::field("deletionTimestamp", arrow::int64()),
                                   arrow::field("dataChange", arrow::boolean()),
                                   arrow::field("extendedFileMetadata", arrow::boolean()),
                                   arrow::field("partitionValues", string_map),
                                   arrow::field("size", arrow::int64())})),
      arrow::field("metaData",
                   arrow::struct_({arrow::field("id", arrow::utf8()),
                                   arrow::field("name", arrow::utf8()),
                                   arrow::field("description", arrow::utf8()),
                                   arrow::field("format",
                                                arrow::struct_({arrow::field("provider", arrow::utf8()),
                                                                arrow::field("options", string_map)})),
                                   arrow::field("schemaString", arrow::utf8()),
                                   arrow::field("partitionColumns", strings),
                                   arrow::field("configuration", string_map),
                                   arrow::field("createdTime", arrow::int64())})),
      arrow::field("protocol", arrow::struct_({arrow::field("minReaderVersion", arrow::int32()),
                                               arrow::field("minWriterVersion", arrow::int32()),
                                               arrow::field("readerFeatures", strings),
                                               arrow::field("writerFeatures", strings)})),
  });
}

// Appends a JSON value to a builder of the checkpoint schema (null when absent).
arrow::Status AppendJson(arrow::ArrayBuilder* builder, const json& value) {
  if (value.is_null()) return builder->AppendNull();
  switch (builder->type()->id()) {
    case arrow::Type::STRING:
      if (!value.is_string()) return builder->AppendNull();
      return static_cast<arrow::StringBuilder*>(builder)->Append(value.get<std::string>());
    case arrow::Type::INT64:
      if (!value.is_number_integer()) return builder->AppendNull();
      return static_cast<arrow::Int64Builder*>(builder)->Append(value.get<int64_t>());
    case arrow::Type::INT32:
      if (!value.is_number_integer()) return builder->AppendNull();
      return static_cast<arrow::Int32Builder*>(builder)->Append(value.get<int32_t>());
    case arrow::Type::BOOL:
      if (!value.is_boolean()) return builder->AppendNull();
      return static_cast<arrow::BooleanBuilder*>(builder)->Append(value.get<bool>());
    case arrow::Type::LIST: {
      auto* list = static_cast<arrow::ListBuilder*>(builder);
      if (!value.is_array()) return list->AppendNull();
      ARROW_RETURN_NOT_OK(list->Append());
      for (const auto& item : value) ARROW_RETURN_NOT_OK(AppendJson(list->value_builder(), item));
      return arrow::Status::OK();
    }
    case arrow::Type::MAP: {
      auto* map = static_cast<arrow::MapBuilder*>(builder);
      if (!value.is_object()) return map->AppendNull();
      ARROW_RETURN_NOT_OK(map->Append());
      for (const auto& [k, v] : value.items()) {
        ARROW_RETURN_NOT_OK(static_cast<arrow::StringBuilder*>(map->key_builder())->Append(k));
        ARROW_RETURN_NOT_OK(AppendJson(map->item_builder(), v));
      }
      return arrow::Status::OK();
    }
    case arrow::Type::STRUCT: {
      auto* record = static_cast<arrow::StructBuilder*>(builder);
      if (!value.is_object()) return record->AppendNull();
      ARROW_RETURN_NOT_OK(record->Append());
      for (int i = 0; i < record->num_fields(); ++i) {
        // StructBuilder::type() builds a new type each call: keep a copy of the name.
        const std::string name = record->type()->field(i)->name();
        auto it = value.find(name);
        ARROW_RETURN_NOT_OK(
            AppendJson(record->field_builder(i), it == value.end() ? json(nullptr) : *it));
      }
      return arrow::Status::OK();
    }
    default:
      return arrow::Status::NotImplemented("checkpoint column type ", builder->type()->ToString());
  }
}

}  // namespace

arrow::Status DeltaLog::WriteCheckpoint(const Snapshot& snapshot) {
  if (snapshot.version < 0) return arrow::Status::OK();
  // The snapshot as one commit's actions, each a row of its own column.
  CommitActions state;
  state.protocol = snapshot.protocol;
  state.metadata = snapshot.metadata;
  for (const auto& [app, version] : snapshot.app_versions) state.txns.push_back({app, version, 0});
  for (const auto& [path, add] : snapshot.files) state.adds.push_back(add);
  for (const auto& [path, remove] : snapshot.tombstones) state.removes.push_back(remove);
  const std::string text = SerializeCommit(state, 0);
  auto schema = CheckpointSchema();
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders;
  for (const auto& field : schema->fields()) {
    std::unique_ptr<arrow::ArrayBuilder> builder;
    ARROW_RETURN_NOT_OK(arrow::MakeBuilder(arrow::default_memory_pool(), field->type(), &builder));
    builders.push_back(std::move(builder));
  }
  size_t start = 0;
  int64_t rows = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    json action = json::parse(text.substr(start, end - start), nullptr, false);
    start = end + 1;
    if (!action.is_object() || action.size() != 1) continue;
    const std::string name = action.begin().key();
    const int column = schema->GetFieldIndex(name);
    if (column < 0) continue;  // commitInfo
    for (int c = 0; c < schema->num_fields(); ++c) {
      ARROW_RETURN_NOT_OK(c == column ? AppendJson(builders[c].get(), action.begin().value())
                                      : builders[c]->AppendNull());
    }
    ++rows;
  }
  arrow::ArrayVector columns;
  for (auto& builder : builders) {
    std::shared_ptr<arrow::Array> array;
    ARROW_RETURN_NOT_OK(builder->Finish(&array));
    columns.push_back(std::move(array));
  }
  auto table = arrow::Table::Make(schema, columns, rows);
  char key[80];
  std::snprintf(key, sizeof(key), "_delta_log/%020lld.checkpoint.parquet",
                static_cast<long long>(snapshot.version));
  ARROW_ASSIGN_OR_RAISE(auto sink, store_->OpenUpload(key));
  auto st = parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink,
                                       std::max<int64_t>(rows, 1));
  if (st.ok()) st = sink->Close();
  if (!st.ok()) {
    (void)sink->Abort();
    return st;
  }
  // Written after the checkpoint itself: a reader following it always finds the file.
  json pointer = {{"version", snapshot.version}, {"size", rows}};
  return store_->Put("_delta_log/_last_checkpoint", arrow::Buffer::FromString(JsonText(pointer)));
}

arrow::Status DeltaLog::ReadCheckpoint(int64_t version, Snapshot* snapshot) {
  char key[80];
  std::snprintf(key, sizeof(key), "_delta_log/%020lld.checkpoint.parquet",
                static_cast<long long>(version));
  auto file = store_->OpenRead(key);
  if (!file.ok()) {
    // Multi-part and v2 checkpoints are not read: replay the log from the start.
    if (file.status().IsKeyError()) return arrow::Status::OK();
    return file.status();
  }
  ARROW_ASSIGN_OR_RAISE(auto reader,
                        parquet::arrow::OpenFile(*file, arrow::default_memory_pool()));
  std::shared_ptr<arrow::Table> table;
  ARROW_RETURN_NOT_OK(reader->ReadTable(&table));
  ARROW_ASSIGN_OR_RAISE(table, table->CombineChunks());
  // One commit holding every action of the checkpoint, in a text ParseCommit reads.
  std::string text;
  std::vector<std::string> unknown;
  for (int c = 0; c < table->num_columns(); ++c) {
    const std::string name = table->schema()->field(c)->name();
    if (table->column(c)->num_chunks() == 0) continue;
    const auto& column = table->column(c)->chunk(0);
    if (name != "add" && name != "remove" && name != "metaData" && name != "protocol" &&
        name != "txn") {
      // Other actions (domainMetadata, checkpointMetadata, ...): known to be there, so
      // writers refuse the table as they would reading them from a commit.
      if (name != "commitInfo" && column->null_count() < column->length()) {
        unknown.push_back(name);
      }
      continue;
    }
    for (int64_t row = 0; row < column->length(); ++row) {
      if (column->IsNull(row)) continue;
      ARROW_ASSIGN_OR_RAISE(auto scalar, column->GetScalar(row));
      json body = JsonOf(*scalar);
      if (!body.is_object()) {
        return arrow::Status::Invalid("checkpoint ", version, ": column '", name,
                                      "' is not a struct of action fields");
      }
      // Null members are absent in a commit file.
      for (auto it = body.begin(); it != body.end();) {
        it = it->is_null() && it.key() != "partitionValues" ? body.erase(it) : std::next(it);
      }
      text += JsonText(json{{name, body}});
      text += '\n';
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto commit, ParseCommit(text, version));
  for (auto& name : unknown) commit.unknown_actions.push_back(std::move(name));
  // Removes in a checkpoint are tombstones only: apply them before the adds they do not
  // cancel (a path is in one list or the other).
  ARROW_RETURN_NOT_OK(snapshot->Apply(commit, version));
  snapshot->commits_since_checkpoint = 0;
  snapshot->checkpoint_version = version;
  return arrow::Status::OK();
}

}  // namespace arrowport::lake
