#pragma once

#include <memory>
#include <optional>

#include "arrow/record_batch.h"
#include "arrow/result.h"

namespace arrowport::flight::sql {

/// \brief DuckDB's SQL types as Flight SQL's GetXdbcTypeInfo reports them (JDBC
/// getTypeInfo): name, XDBC/JDBC type code, size, literal quoting, create parameters.
/// `data_type` filters on one XDBC type code.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> XdbcTypeInfoBatch(
    std::optional<int> data_type);

}  // namespace arrowport::flight::sql
