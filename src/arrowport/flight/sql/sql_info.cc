// FlightSqlService: what the server tells clients about itself (GetSqlInfo).
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/common/version.h"

#include "arrow/util/config.h"

namespace arrowport::flight::sql {

namespace fsql = arrow::flight::sql;
using Info = fsql::SqlInfoOptions;

void FlightSqlService::RegisterSqlInfos() {
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_NAME, std::string("Arrowport"));
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_VERSION, std::string(arrowport::Version()));
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_ARROW_VERSION, std::string(ARROW_VERSION_STRING));
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_READ_ONLY, false);
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_SQL, true);
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_SUBSTRAIT, false);
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_TRANSACTION,
                  static_cast<int32_t>(Info::SQL_SUPPORTED_TRANSACTION_TRANSACTION));
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_CANCEL, true);
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_BULK_INGESTION, true);
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED, false);
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT, int32_t{0});
  RegisterSqlInfo(Info::FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT, int32_t{0});
  RegisterSqlInfo(Info::SQL_DDL_CATALOG, false);
  RegisterSqlInfo(Info::SQL_DDL_SCHEMA, true);
  RegisterSqlInfo(Info::SQL_DDL_TABLE, true);
  RegisterSqlInfo(Info::SQL_IDENTIFIER_CASE,
                  int64_t{Info::SQL_CASE_SENSITIVITY_CASE_INSENSITIVE});
  RegisterSqlInfo(Info::SQL_IDENTIFIER_QUOTE_CHAR, std::string("\""));
  RegisterSqlInfo(Info::SQL_QUOTED_IDENTIFIER_CASE,
                  int64_t{Info::SQL_CASE_SENSITIVITY_CASE_INSENSITIVE});
  RegisterSqlInfo(Info::SQL_ALL_TABLES_ARE_SELECTABLE, true);
  RegisterSqlInfo(Info::SQL_NULL_ORDERING, int64_t{Info::SQL_NULLS_SORTED_AT_END});
  RegisterSqlInfo(Info::SQL_KEYWORDS,
                  std::vector<std::string>{"ANTI", "ASOF", "ATTACH", "COLUMNS", "DESCRIBE",
                                           "DETACH", "EXCLUDE", "ILIKE", "MACRO", "PIVOT",
                                           "POSITIONAL", "QUALIFY", "REPLACE", "SEMI",
                                           "SUMMARIZE", "UNPIVOT"});
  RegisterSqlInfo(Info::SQL_NUMERIC_FUNCTIONS,
                  std::vector<std::string>{"abs", "ceil", "floor", "round", "sqrt", "pow",
                                           "ln", "log10", "exp", "sign", "random"});
  RegisterSqlInfo(Info::SQL_STRING_FUNCTIONS,
                  std::vector<std::string>{"concat", "length", "lower", "upper", "substring",
                                           "trim", "replace", "strpos", "regexp_matches"});
  RegisterSqlInfo(Info::SQL_SYSTEM_FUNCTIONS,
                  std::vector<std::string>{"current_database", "current_schema", "version"});
  RegisterSqlInfo(Info::SQL_DATETIME_FUNCTIONS,
                  std::vector<std::string>{"current_date", "current_timestamp", "date_trunc",
                                           "date_part", "strftime", "strptime", "now"});
  RegisterSqlInfo(Info::SQL_SEARCH_STRING_ESCAPE, std::string("\\"));
  RegisterSqlInfo(Info::SQL_EXTRA_NAME_CHARACTERS, std::string(""));
  RegisterSqlInfo(Info::SQL_SUPPORTS_COLUMN_ALIASING, true);
  RegisterSqlInfo(Info::SQL_NULL_PLUS_NULL_IS_NULL, true);
  RegisterSqlInfo(Info::SQL_SUPPORTS_TABLE_CORRELATION_NAMES, true);
  RegisterSqlInfo(Info::SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES, false);
  RegisterSqlInfo(Info::SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY, true);
  RegisterSqlInfo(Info::SQL_SUPPORTS_ORDER_BY_UNRELATED, true);
  RegisterSqlInfo(Info::SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE, true);
  RegisterSqlInfo(Info::SQL_SUPPORTS_NON_NULLABLE_COLUMNS, true);
  // Bitmasks: minimum + core + extended grammar; ANSI-92 entry + intermediate + full.
  RegisterSqlInfo(Info::SQL_SUPPORTED_GRAMMAR, int32_t{0b111});
  RegisterSqlInfo(Info::SQL_ANSI92_SUPPORTED_LEVEL, int32_t{0b111});
  RegisterSqlInfo(Info::SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY, false);
  RegisterSqlInfo(Info::SQL_SCHEMA_TERM, std::string("schema"));
  RegisterSqlInfo(Info::SQL_PROCEDURE_TERM, std::string("procedure"));
  RegisterSqlInfo(Info::SQL_CATALOG_TERM, std::string("catalog"));
  RegisterSqlInfo(Info::SQL_CATALOG_AT_START, true);
  RegisterSqlInfo(Info::SQL_SELECT_FOR_UPDATE_SUPPORTED, false);
  RegisterSqlInfo(Info::SQL_STORED_PROCEDURES_SUPPORTED, false);
  RegisterSqlInfo(Info::SQL_CORRELATED_SUBQUERIES_SUPPORTED, true);
  RegisterSqlInfo(Info::SQL_TRANSACTIONS_SUPPORTED, true);
  RegisterSqlInfo(Info::SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT, false);
  RegisterSqlInfo(Info::SQL_DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED, false);
  RegisterSqlInfo(Info::SQL_BATCH_UPDATES_SUPPORTED, true);
  RegisterSqlInfo(Info::SQL_SAVEPOINTS_SUPPORTED, false);
  RegisterSqlInfo(Info::SQL_NAMED_PARAMETERS_SUPPORTED, false);
  RegisterSqlInfo(Info::SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED, false);
}

}  // namespace arrowport::flight::sql
