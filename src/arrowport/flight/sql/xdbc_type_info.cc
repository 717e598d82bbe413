#include "arrowport/flight/sql/xdbc_type_info.h"

#include <arrow/flight/sql/server.h>

#include <string>
#include <vector>

#include "arrow/array/builder_binary.h"
#include "arrow/array/builder_nested.h"
#include "arrow/array/builder_primitive.h"
#include "arrow/table_builder.h"

namespace arrowport::flight::sql {

namespace {

struct TypeRow {
  const char* name;
  int32_t code;  // XDBC (JDBC) type code
  int32_t column_size;
  const char* prefix;  // literal prefix/suffix ("" = none)
  std::vector<std::string> create_params;
  bool case_sensitive;
  bool is_unsigned;
  bool fixed_prec_scale;
  int32_t radix;  // 0 = not numeric
};

// JDBC type codes (java.sql.Types), which XDBC reuses.
const std::vector<TypeRow>& Rows() {
  static const std::vector<TypeRow> kRows = {
      {"BOOLEAN", 16, 1, "", {}, false, false, false, 0},
      {"TINYINT", -6, 3, "", {}, false, false, false, 10},
      {"SMALLINT", 5, 5, "", {}, false, false, false, 10},
      {"INTEGER", 4, 10, "", {}, false, false, false, 10},
      {"BIGINT", -5, 19, "", {}, false, false, false, 10},
      {"HUGEINT", 3, 38, "", {}, false, false, false, 10},
      {"UTINYINT", -6, 3, "", {}, false, true, false, 10},
      {"USMALLINT", 5, 5, "", {}, false, true, false, 10},
      {"UINTEGER", 4, 10, "", {}, false, true, false, 10},
      {"UBIGINT", -5, 20, "", {}, false, true, false, 10},
      {"FLOAT", 7, 24, "", {}, false, false, false, 2},
      {"DOUBLE", 8, 53, "", {}, false, false, false, 2},
      {"DECIMAL", 3, 38, "", {"precision", "scale"}, false, false, true, 10},
      {"VARCHAR", 12, 2147483647, "'", {}, true, false, false, 0},
      {"BLOB", -3, 2147483647, "'", {}, false, false, false, 0},
      {"DATE", 91, 10, "'", {}, false, false, false, 0},
      {"TIME", 92, 15, "'", {}, false, false, false, 0},
      {"TIMESTAMP", 93, 26, "'", {}, false, false, false, 0},
      {"TIMESTAMP WITH TIME ZONE", 2014, 32, "'", {}, false, false, false, 0},
      {"INTERVAL", 1111, 0, "'", {}, false, false, false, 0},
      {"UUID", 1111, 36, "'", {}, false, false, false, 0},
  };
  return kRows;
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> XdbcTypeInfoBatch(
    std::optional<int> data_type) {
  const auto& schema = arrow::flight::sql::SqlSchema::GetXdbcTypeInfoSchema();
  ARROW_ASSIGN_OR_RAISE(auto builder, arrow::RecordBatchBuilder::Make(
                                          schema, arrow::default_memory_pool()));
  using arrow::BooleanBuilder;
  using arrow::Int32Builder;
  using arrow::StringBuilder;
  for (const auto& row : Rows()) {
    if (data_type && *data_type != row.code) continue;
    const bool literal = row.prefix[0] != '\0';
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<StringBuilder>(0)->Append(row.name));
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<Int32Builder>(1)->Append(row.code));
    auto* size = builder->GetFieldAs<Int32Builder>(2);
    ARROW_RETURN_NOT_OK(row.column_size > 0 ? size->Append(row.column_size) : size->AppendNull());
    for (int field : {3, 4}) {
      auto* quote = builder->GetFieldAs<StringBuilder>(field);
      ARROW_RETURN_NOT_OK(literal ? quote->Append(row.prefix) : quote->AppendNull());
    }
    auto* params = builder->GetFieldAs<arrow::ListBuilder>(5);
    if (row.create_params.empty()) {
      ARROW_RETURN_NOT_OK(params->AppendNull());
    } else {
      ARROW_RETURN_NOT_OK(params->Append());
      auto* values = static_cast<StringBuilder*>(params->value_builder());
      for (const auto& p : row.create_params) ARROW_RETURN_NOT_OK(values->Append(p));
    }
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<Int32Builder>(6)->Append(1));  // nullable
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<BooleanBuilder>(7)->Append(row.case_sensitive));
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<Int32Builder>(8)->Append(3));  // searchable
    auto* unsigned_attr = builder->GetFieldAs<BooleanBuilder>(9);
    ARROW_RETURN_NOT_OK(row.radix ? unsigned_attr->Append(row.is_unsigned)
                                  : unsigned_attr->AppendNull());
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<BooleanBuilder>(10)->Append(row.fixed_prec_scale));
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<BooleanBuilder>(11)->Append(false));
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<StringBuilder>(12)->Append(row.name));
    for (int field : {13, 14}) {
      auto* scale = builder->GetFieldAs<Int32Builder>(field);
      ARROW_RETURN_NOT_OK(row.fixed_prec_scale ? scale->Append(field == 13 ? 0 : 38)
                                               : scale->AppendNull());
    }
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<Int32Builder>(15)->Append(row.code));
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<Int32Builder>(16)->AppendNull());
    auto* radix = builder->GetFieldAs<Int32Builder>(17);
    ARROW_RETURN_NOT_OK(row.radix ? radix->Append(row.radix) : radix->AppendNull());
    ARROW_RETURN_NOT_OK(builder->GetFieldAs<Int32Builder>(18)->AppendNull());
  }
  return builder->Flush();
}

}  // namespace arrowport::flight::sql
