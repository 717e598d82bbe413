// FlightSqlService: catalog metadata (catalogs, schemas, tables, keys, type info).
#include <arrow/flight/api.h>

#include <arrow/flight/sql/column_metadata.h>

#include <map>
#include <tuple>

#include "arrow/builder.h"
#include "arrow/ipc/writer.h"
#include "arrow/record_batch.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/flight/sql/xdbc_type_info.h"
#include "arrowport/query/catalog_reads.h"
#include "arrowport/query/session_connection.h"

namespace arrowport::flight::sql {

namespace fl = arrow::flight;
namespace fsql = arrow::flight::sql;

namespace {

using Stream = std::unique_ptr<fl::FlightDataStream>;

arrow::Result<Stream> StreamOf(const std::shared_ptr<arrow::Schema>& schema,
                               std::vector<std::shared_ptr<arrow::ArrayBuilder>> builders) {
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (auto& builder : builders) {
    std::shared_ptr<arrow::Array> column;
    ARROW_RETURN_NOT_OK(builder->Finish(&column));
    columns.push_back(std::move(column));
  }
  const int64_t rows = columns.empty() ? 0 : columns[0]->length();
  auto batch = arrow::RecordBatch::Make(schema, rows, std::move(columns));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make({batch}, schema));
  return std::make_unique<fl::RecordBatchStream>(std::move(reader));
}

// Not make_shared: GCC's -Warray-bounds misreads builders placed in a shared control block.
template <typename Builder = arrow::StringBuilder>
std::shared_ptr<Builder> MakeBuilder() {
  return std::shared_ptr<Builder>(new Builder());
}

std::shared_ptr<arrow::StringBuilder> Strings() { return MakeBuilder(); }

arrow::Status AppendOptional(arrow::StringBuilder* builder, const std::string& value) {
  return value.empty() ? builder->AppendNull() : builder->Append(value);
}

query::CatalogFilter FilterOf(const std::optional<std::string>& catalog,
                                const std::optional<std::string>& schema,
                                const std::optional<std::string>& table = std::nullopt) {
  query::CatalogFilter filter;
  filter.catalog = catalog;
  filter.schema_pattern = schema;
  filter.table_pattern = table;
  return filter;
}

// Key tables: DuckDB keeps no foreign keys a client could use; the schema is still exact.
arrow::Result<Stream> EmptyKeys(const std::shared_ptr<arrow::Schema>& schema) {
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (const auto& field : schema->fields()) {
    ARROW_ASSIGN_OR_RAISE(auto column, arrow::MakeEmptyArray(field->type()));
    columns.push_back(std::move(column));
  }
  auto batch = arrow::RecordBatch::Make(schema, 0, std::move(columns));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make({batch}, schema));
  return std::make_unique<fl::RecordBatchStream>(std::move(reader));
}

using RelationKey = std::tuple<std::string, std::string, std::string>;

// A relation's Arrow schema with what SQL clients show for each column (JDBC getColumns,
// DBeaver): DuckDB's type name, precision and scale, and NOT NULL as a non-nullable field.
std::shared_ptr<arrow::Schema> WithColumnMetadata(
    const std::shared_ptr<arrow::Schema>& schema,
    const std::vector<query::ColumnRow>* columns) {
  if (columns == nullptr || static_cast<int>(columns->size()) != schema->num_fields()) {
    return schema;
  }
  arrow::FieldVector fields;
  for (int i = 0; i < schema->num_fields(); ++i) {
    const auto& column = (*columns)[i];
    auto field = schema->field(i);
    if (field->name() != column.name) return schema;
    auto builder = fsql::ColumnMetadata::Builder();
    builder.CatalogName(column.catalog).SchemaName(column.schema).TableName(column.table)
        .TypeName(column.type).IsAutoIncrement(false).IsReadOnly(false).IsSearchable(true)
        .IsCaseSensitive(column.type == "VARCHAR");
    // DuckDB reports integer precision in bits; clients expect decimal digits, which
    // only DECIMAL states.
    if (column.type.rfind("DECIMAL", 0) == 0) {
      if (column.precision) builder.Precision(*column.precision);
      if (column.scale) builder.Scale(*column.scale);
    }
    fields.push_back(field->WithNullable(column.nullable)
                         ->WithMetadata(builder.Build().metadata_map()));
  }
  return arrow::schema(std::move(fields), schema->metadata());
}

}  // namespace

arrow::Result<query::SessionLease> FlightSqlService::CatalogLease(
    const fl::ServerCallContext& context) {
  // A session with temporary tables reads its catalog on its own connection: they show.
  ARROW_ASSIGN_OR_RAISE(const Caller caller, CallerOf(context, false));
  std::shared_ptr<TransactionEntry> session;
  ARROW_ASSIGN_OR_RAISE(auto connection, ConnectionFor(caller, "", &session));
  return Lease(connection, "reading the catalog");
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoSqlInfo(
    const fl::ServerCallContext& context, const fsql::GetSqlInfo& command,
    const fl::FlightDescriptor& descriptor) {
  // Every new ADBC connection reads SqlInfo first: a client that keeps cookies gets its
  // session here, once per connection, rather than one per statement it prepares.
  ARROW_RETURN_NOT_OK(CallerOf(context, /*create=*/true).status());
  return FlightSqlServerBase::GetFlightInfoSqlInfo(context, command, descriptor);
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoCatalogs(
    const fl::ServerCallContext&, const fl::FlightDescriptor& descriptor) {
  return InfoWithTicket(*fsql::SqlSchema::GetCatalogsSchema(), descriptor, descriptor.cmd);
}

arrow::Result<Stream> FlightSqlService::DoGetCatalogs(const fl::ServerCallContext& context) {
  ARROW_ASSIGN_OR_RAISE(auto lease, CatalogLease(context));
  ARROW_ASSIGN_OR_RAISE(auto catalogs, query::CatalogReads(lease).Catalogs());
  auto names = Strings();
  for (const auto& name : catalogs) ARROW_RETURN_NOT_OK(names->Append(name));
  return StreamOf(fsql::SqlSchema::GetCatalogsSchema(), {names});
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoSchemas(
    const fl::ServerCallContext&, const fsql::GetDbSchemas&,
    const fl::FlightDescriptor& descriptor) {
  return InfoWithTicket(*fsql::SqlSchema::GetDbSchemasSchema(), descriptor, descriptor.cmd);
}

arrow::Result<Stream> FlightSqlService::DoGetDbSchemas(const fl::ServerCallContext& context,
                                                       const fsql::GetDbSchemas& command) {
  ARROW_ASSIGN_OR_RAISE(auto lease, CatalogLease(context));
  ARROW_ASSIGN_OR_RAISE(auto rows, query::CatalogReads(lease).Schemas(FilterOf(
                                       command.catalog, command.db_schema_filter_pattern)));
  const Principal* caller = CurrentCall::Get().principal.get();
  auto catalogs = Strings();
  auto schemas = Strings();
  for (const auto& row : rows) {
    if (!auth::AccessPolicy::SeesSchema(caller, row.schema)) continue;
    ARROW_RETURN_NOT_OK(catalogs->Append(row.catalog));
    ARROW_RETURN_NOT_OK(schemas->Append(row.schema));
  }
  return StreamOf(fsql::SqlSchema::GetDbSchemasSchema(), {catalogs, schemas});
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoTables(
    const fl::ServerCallContext&, const fsql::GetTables& command,
    const fl::FlightDescriptor& descriptor) {
  const auto& schema = command.include_schema
                           ? fsql::SqlSchema::GetTablesSchemaWithIncludedSchema()
                           : fsql::SqlSchema::GetTablesSchema();
  return InfoWithTicket(*schema, descriptor, descriptor.cmd);
}

arrow::Result<Stream> FlightSqlService::DoGetTables(const fl::ServerCallContext& context,
                                                    const fsql::GetTables& command) {
  ARROW_ASSIGN_OR_RAISE(auto lease, CatalogLease(context));
  query::CatalogReads catalog(lease);
  auto filter = FilterOf(command.catalog, command.db_schema_filter_pattern,
                         command.table_name_filter_pattern);
  filter.table_types = command.table_types;
  ARROW_ASSIGN_OR_RAISE(auto all_rows, catalog.Relations(filter));
  const Principal* caller = CurrentCall::Get().principal.get();
  std::vector<query::RelationRow> rows;
  for (auto& row : all_rows) {
    if (auth::AccessPolicy::SeesRelation(caller, row.schema, row.name)) {
      rows.push_back(std::move(row));
    }
  }
  std::map<RelationKey, std::vector<query::ColumnRow>> columns;
  if (command.include_schema) {
    ARROW_ASSIGN_OR_RAISE(auto all, catalog.Columns(filter));
    for (auto& column : all) {
      columns[{column.catalog, column.schema, column.table}].push_back(std::move(column));
    }
  }
  auto catalogs = Strings();
  auto schemas = Strings();
  auto names = Strings();
  auto types = Strings();
  auto table_schemas = MakeBuilder<arrow::BinaryBuilder>();
  for (const auto& row : rows) {
    ARROW_RETURN_NOT_OK(catalogs->Append(row.catalog));
    ARROW_RETURN_NOT_OK(schemas->Append(row.schema));
    ARROW_RETURN_NOT_OK(names->Append(row.name));
    ARROW_RETURN_NOT_OK(types->Append(row.type));
    if (command.include_schema) {
      // A view over files that are gone has no schema; it is listed with an empty one
      // rather than hiding every other table.
      auto schema = catalog.RelationSchema(row);
      std::shared_ptr<arrow::Schema> described = arrow::schema({});
      if (schema.ok()) {
        auto found = columns.find({row.catalog, row.schema, row.name});
        described = WithColumnMetadata(*schema,
                                       found == columns.end() ? nullptr : &found->second);
      }
      ARROW_ASSIGN_OR_RAISE(auto serialized, arrow::ipc::SerializeSchema(*described));
      ARROW_RETURN_NOT_OK(table_schemas->Append(serialized->data(), serialized->size()));
    }
  }
  if (!command.include_schema) {
    return StreamOf(fsql::SqlSchema::GetTablesSchema(), {catalogs, schemas, names, types});
  }
  return StreamOf(fsql::SqlSchema::GetTablesSchemaWithIncludedSchema(),
                  {catalogs, schemas, names, types, table_schemas});
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoTableTypes(
    const fl::ServerCallContext&, const fl::FlightDescriptor& descriptor) {
  return InfoWithTicket(*fsql::SqlSchema::GetTableTypesSchema(), descriptor, descriptor.cmd);
}

arrow::Result<Stream> FlightSqlService::DoGetTableTypes(const fl::ServerCallContext&) {
  auto types = Strings();
  for (const auto& type : query::CatalogReads::RelationTypes()) {
    ARROW_RETURN_NOT_OK(types->Append(type));
  }
  return StreamOf(fsql::SqlSchema::GetTableTypesSchema(), {types});
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoPrimaryKeys(
    const fl::ServerCallContext&, const fsql::GetPrimaryKeys&,
    const fl::FlightDescriptor& descriptor) {
  return InfoWithTicket(*fsql::SqlSchema::GetPrimaryKeysSchema(), descriptor, descriptor.cmd);
}

arrow::Result<Stream> FlightSqlService::DoGetPrimaryKeys(const fl::ServerCallContext& context,
                                                         const fsql::GetPrimaryKeys& command) {
  ARROW_ASSIGN_OR_RAISE(auto lease, CatalogLease(context));
  const auto& ref = command.table_ref;
  ARROW_ASSIGN_OR_RAISE(auto rows, query::CatalogReads(lease)
                                       .PrimaryKeys(ref.catalog, ref.db_schema, ref.table));
  auto catalogs = Strings();
  auto schemas = Strings();
  auto tables = Strings();
  auto columns = Strings();
  std::vector<int32_t> sequence_values;
  auto key_names = Strings();
  const Principal* caller = CurrentCall::Get().principal.get();
  for (const auto& row : rows) {
    if (!auth::AccessPolicy::SeesRelation(caller, row.schema, row.table)) continue;
    ARROW_RETURN_NOT_OK(catalogs->Append(row.catalog));
    ARROW_RETURN_NOT_OK(schemas->Append(row.schema));
    ARROW_RETURN_NOT_OK(tables->Append(row.table));
    ARROW_RETURN_NOT_OK(columns->Append(row.column));
    sequence_values.push_back(row.sequence);
    ARROW_RETURN_NOT_OK(AppendOptional(key_names.get(), row.key_name));
  }
  auto sequences = MakeBuilder<arrow::Int32Builder>();
  ARROW_RETURN_NOT_OK(sequences->AppendValues(sequence_values));
  return StreamOf(fsql::SqlSchema::GetPrimaryKeysSchema(),
                  {catalogs, schemas, tables, columns, sequences, key_names});
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoExportedKeys(
    const fl::ServerCallContext&, const fsql::GetExportedKeys&,
    const fl::FlightDescriptor& descriptor) {
  return InfoWithTicket(*fsql::SqlSchema::GetExportedKeysSchema(), descriptor, descriptor.cmd);
}

arrow::Result<Stream> FlightSqlService::DoGetExportedKeys(const fl::ServerCallContext&,
                                                          const fsql::GetExportedKeys&) {
  return EmptyKeys(fsql::SqlSchema::GetExportedKeysSchema());
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoImportedKeys(
    const fl::ServerCallContext&, const fsql::GetImportedKeys&,
    const fl::FlightDescriptor& descriptor) {
  return InfoWithTicket(*fsql::SqlSchema::GetImportedKeysSchema(), descriptor, descriptor.cmd);
}

arrow::Result<Stream> FlightSqlService::DoGetImportedKeys(const fl::ServerCallContext&,
                                                          const fsql::GetImportedKeys&) {
  return EmptyKeys(fsql::SqlSchema::GetImportedKeysSchema());
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoCrossReference(
    const fl::ServerCallContext&, const fsql::GetCrossReference&,
    const fl::FlightDescriptor& descriptor) {
  return InfoWithTicket(*fsql::SqlSchema::GetCrossReferenceSchema(), descriptor,
                        descriptor.cmd);
}

arrow::Result<Stream> FlightSqlService::DoGetCrossReference(const fl::ServerCallContext&,
                                                            const fsql::GetCrossReference&) {
  return EmptyKeys(fsql::SqlSchema::GetCrossReferenceSchema());
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlService::GetFlightInfoXdbcTypeInfo(
    const fl::ServerCallContext&, const fsql::GetXdbcTypeInfo&,
    const fl::FlightDescriptor& descriptor) {
  return InfoWithTicket(*fsql::SqlSchema::GetXdbcTypeInfoSchema(), descriptor, descriptor.cmd);
}

arrow::Result<Stream> FlightSqlService::DoGetXdbcTypeInfo(const fl::ServerCallContext&,
                                                          const fsql::GetXdbcTypeInfo& command) {
  ARROW_ASSIGN_OR_RAISE(auto batch, XdbcTypeInfoBatch(command.data_type));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make({batch}, batch->schema()));
  return std::make_unique<fl::RecordBatchStream>(std::move(reader));
}

}  // namespace arrowport::flight::sql
