#include "arrowport/storage/sandbox/statement_guard.h"

#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/macro_catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/schema_catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/table_catalog_entry.hpp>
#include <duckdb/catalog/catalog_entry/view_catalog_entry.hpp>
#include <duckdb/catalog/entry_lookup_info.hpp>
#include <duckdb/common/error_data.hpp>
#include <duckdb/function/scalar_macro_function.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/main/prepared_statement.hpp>
#include <duckdb/parser/parsed_data/create_info.hpp>
#include <duckdb/parser/parser.hpp>
#include <duckdb/parser/statement/select_statement.hpp>
#include <duckdb/parser/result_modifier.hpp>
#include <duckdb/parser/tableref/basetableref.hpp>
#include <duckdb/parser/expression/constant_expression.hpp>
#include <duckdb/parser/expression/star_expression.hpp>
#include <duckdb/parser/query_node/select_node.hpp>
#include <duckdb/parser/statement/call_statement.hpp>
#include <duckdb/parser/statement/copy_statement.hpp>
#include <duckdb/parser/statement/create_statement.hpp>
#include <duckdb/parser/statement/explain_statement.hpp>
#include <duckdb/parser/statement/multi_statement.hpp>
#include <duckdb/parser/statement/pragma_statement.hpp>
#include <duckdb/parser/expression/function_expression.hpp>
#include <duckdb/transaction/transaction_context.hpp>

#include <algorithm>
#include <exception>
#include <optional>
#include <vector>

#include "arrowport/common/status_detail.h"
#include "arrowport/storage/memory/allocation_guard.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/files/lake_file_system.h"
#include "arrowport/storage/sandbox/sandbox_rules.h"
#include "arrowport/storage/sandbox/statement_walker.h"
#include "arrowport/storage/sandbox/parse_cache.h"
#include "arrowport/storage/sandbox/whole_table_read.h"

namespace arrowport::storage {

namespace {

using ExtractedHandle = Handle<duckdb_extracted_statements, &duckdb_destroy_extracted>;

// Runs `fn` with the context's transaction: the client's own when one is open (an error
// passing through RunFunctionInTransaction would abort it), else an automatic one.
arrow::Status InTransactionOf(duckdb::ClientContext& context, const std::function<arrow::Status()>& fn) {
  arrow::Status st;
  try {
    if (context.transaction.HasActiveTransaction()) {
      st = fn();
    } else {
      context.RunFunctionInTransaction([&] { st = fn(); });
    }
  } catch (const std::exception& e) {
    return arrow::Status::Invalid("SQL sandbox: cannot read the catalog: ",
                                  duckdb::ErrorData(e).Message());
  }
  return st;
}

// `statement` held unplanned, as DuckDB holds a statement that expands into several:
// planned when it is submitted.
PreparedHandle Unplanned(duckdb::ClientContext& context,
                         duckdb::unique_ptr<duckdb::SQLStatement> statement) {
  auto wrapper = std::make_unique<duckdb::PreparedStatementWrapper>();
  wrapper->statement =
      duckdb::make_uniq<duckdb::PreparedStatement>(context.shared_from_this(), std::move(statement));
  return PreparedHandle(reinterpret_cast<duckdb_prepared_statement>(wrapper.release()));
}

// A SELECT run once, right away: DuckDB 2.0 plans a prepared statement that reads a
// table again at each execution (its properties say always_require_rebind), so preparing
// it and then running it planned it twice, 0.3 ms of a 1,000-row query's 1.0 ms. It is
// bound here (a fifth of a plan) for what must be known before it runs: that it changes
// nothing, returns rows and has no parameters; then `out` holds it unplanned, as DuckDB
// holds a statement that expands into several, planned once when submitted. False (and
// `statement` untouched) when it must be prepared after all.
arrow::Result<Planning> PlanAtRun(duckdb::ClientContext& context, const std::string& sql,
                                  duckdb::unique_ptr<duckdb::SQLStatement>* statement,
                                  const StatementReads& reads, PreparedHandle* out,
                                  TableIdentity* whole_table) {
  if (auto whole = WholeTableRead(context, **statement, reads)) {
    if (whole_table != nullptr) *whole_table = *whole;
    *out = Unplanned(context, std::move(*statement));
    return Planning::kTableAtRun;
  }
  duckdb::StatementSignature signature;
  try {
    signature = context.BindStatement((*statement)->Copy());
  } catch (const std::exception& e) {
    // As duckdb_prepare's error reads: its kind, and where in the text (LINE 1: ... ^^^).
    duckdb::ErrorData error(e);
    error.FinalizeError();
    error.AddErrorLocation(sql);
    return TranslateDuckDBError(-1, error.Message());
  }
  if (signature.metadata_deferred || !signature.parameters.empty() ||
      !signature.properties.IsReadOnly() ||
      signature.properties.return_type != duckdb::StatementReturnType::QUERY_RESULT) {
    return Planning::kPrepared;
  }
  *out = Unplanned(context, std::move(*statement));
  return Planning::kSelectAtRun;
}

// A transform's SELECT that changes a table (WITH d AS (DELETE ... RETURNING *)): a
// transform only reshapes what it is sent, whoever runs it (the operator's configured
// transforms run as admin).
arrow::Status TransformWrites(const NamedEntry& target) {
  return PermissionDenied("SQL sandbox: a transform is one SELECT over 'input' that "
                          "changes nothing, for every user: this one changes '",
                          target.ToString(), "' (INSERT, UPDATE, DELETE or MERGE inside "
                          "WITH); run that as a statement of its own");
}

}  // namespace

StatementGuard::StatementGuard(const Principal& principal, std::string catalog,
                               bool parser_trusted, int64_t max_value_bytes, bool transform,
                               ParseCache* parses)
    : principal_(principal),
      catalog_(std::move(catalog)),
      parser_trusted_(parser_trusted),
      max_value_bytes_(max_value_bytes),
      transform_(transform),
      parses_(parses) {}

arrow::Status StatementGuard::CheckTransformText(duckdb_connection conn,
                                                 const std::string& sql) {
  duckdb::ClientContext* context = ClientContextOf(conn);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>> statements;
  ARROW_RETURN_NOT_OK(ParseStatements(*context, sql, nullptr, &statements));
  if (statements.size() != 1) {
    return arrow::Status::Invalid("a transform is one SELECT over 'input' (the text holds ",
                                  statements.size(), " statements)");
  }
  if (statements[0]->type != duckdb::StatementType::SELECT_STATEMENT) {
    return arrow::Status::Invalid("a transform is one SELECT over 'input' (got ",
                                  KindName(statements[0]->type), ")");
  }
  const StatementReads reads = ReadsOf(*statements[0]);
  if (!reads.writes.empty()) return TransformWrites(reads.writes[0]);
  return arrow::Status::OK();
}

arrow::Status StatementGuard::Prepare(duckdb_connection conn, const std::string& sql,
                                      PreparedHandle* out, Planning* at_run,
                                      std::vector<HeldTable>* held,
                                      TableIdentity* whole_table) const {
  if (at_run != nullptr) *at_run = Planning::kPrepared;
  if (!parser_trusted_) {
    return PermissionDenied("SQL sandbox: client SQL is refused: the DuckDB library in use (",
                            duckdb_library_version(), ") is not the one this server was built "
                            "against, so its parser cannot be used to check statements; "
                            "rebuild the server");
  }
  duckdb::ClientContext* context = ClientContextOf(conn);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  // Parsing, binding and planning are held to the budget, however they allocate (a
  // constant DuckDB folds into millions of Values); the plan stays counted with `out`.
  AllocationGuard::PlanningScope planning;
  // The one parse: every check reads this tree, and DuckDB prepares this tree.
  auto* extracted = new duckdb::ExtractStatementsWrapper();
  ExtractedHandle owned(reinterpret_cast<duckdb_extracted_statements>(extracted));
  ARROW_RETURN_NOT_OK(ParseStatements(*context, sql, parses_, &extracted->statements));
  if (extracted->statements.empty()) {
    return arrow::Status::Invalid("no SQL statement in the text");
  }
  if (extracted->statements.size() > 1) {
    return PermissionDenied("SQL sandbox: the text holds ", extracted->statements.size(),
                            " statements; send one statement per request");
  }
  const duckdb::SQLStatement& statement = *extracted->statements[0];
  if (transform_ && statement.type != duckdb::StatementType::SELECT_STATEMENT) {
    return PermissionDenied("SQL sandbox: a transform is one SELECT over 'input' (got ",
                            KindName(statement.type), ")");
  }
  ARROW_RETURN_NOT_OK(CheckKind(statement));
  ARROW_RETURN_NOT_OK(CheckWrites(statement));
  const StatementReads reads = ReadsOf(statement);
  if (!reads.unknown.empty()) {
    return PermissionDenied("SQL sandbox: the statement holds ", reads.unknown,
                            ", which it cannot check");
  }
  if (reads.makes_variant) {
    return VariantRefused("a cast to VARIANT, a VARIANT column or type, or a function "
                          "that makes one (variant_bytes_to_variant, stats, "
                          "variant_group_object, variant_group_array)");
  }
  if (transform_ && !reads.writes.empty()) return TransformWrites(reads.writes[0]);
  ARROW_RETURN_NOT_OK(CheckNestedWrites(reads));
  ARROW_RETURN_NOT_OK(CheckCalls(reads));
  if (held != nullptr) *held = HeldTables(statement, reads);
  ARROW_RETURN_NOT_OK(InTransactionOf(*context, [&] {
    ARROW_RETURN_NOT_OK(CheckTables(*context, reads, "", "", 0));
    ARROW_RETURN_NOT_OK(CheckVariantStores(*context, statement));
    if (reads.recursive) ARROW_RETURN_NOT_OK(CheckNoVariantRecursion(*context, reads, 0));
    return CheckMacros(*context, reads, 0);
  }));
  ARROW_RETURN_NOT_OK(CheckCreatedVariants(*context, statement));
  if (at_run != nullptr && statement.type == duckdb::StatementType::SELECT_STATEMENT) {
    ARROW_ASSIGN_OR_RAISE(*at_run, PlanAtRun(*context, sql, &extracted->statements[0], reads,
                                                   out, whole_table));
    if (*at_run != Planning::kPrepared) {
      planning.KeepFor(out->get());
      return arrow::Status::OK();
    }
  }
  if (duckdb_prepare_extracted_statement(conn, owned.get(), 0, out->out()) == DuckDBError) {
    const char* error = duckdb_prepare_error(out->get());
    return TranslateDuckDBError(-1, error ? error : "cannot prepare statement");
  }
  planning.KeepFor(out->get());
  return arrow::Status::OK();
}

arrow::Status StatementGuard::Rejudge(duckdb_connection conn, const std::string& sql,
                                      std::optional<TableIdentity>* whole_table,
                                      PreparedHandle* unplanned) const {
  if (whole_table != nullptr) whole_table->reset();
  duckdb::ClientContext* context = ClientContextOf(conn);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>> statements;
  ARROW_RETURN_NOT_OK(ParseStatements(*context, sql, parses_, &statements));
  if (statements.size() != 1) {
    return arrow::Status::Invalid("internal: a prepared statement's text is not one statement");
  }
  const StatementReads reads = ReadsOf(*statements[0]);
  ARROW_RETURN_NOT_OK(InTransactionOf(*context, [&] {
    ARROW_RETURN_NOT_OK(CheckTables(*context, reads, "", "", 0));
    ARROW_RETURN_NOT_OK(CheckMacros(*context, reads, 0));
    if (whole_table != nullptr) {
      *whole_table = WholeTableRead(*context, *statements[0], reads);
    }
    return arrow::Status::OK();
  }));
  if (unplanned != nullptr &&
      statements[0]->type == duckdb::StatementType::SELECT_STATEMENT) {
    *unplanned = Unplanned(*context, std::move(statements[0]));
  }
  return arrow::Status::OK();
}

arrow::Result<bool> StatementGuard::ReadsOneTableWhole(duckdb_connection conn,
                                                       const std::string& sql) {
  duckdb::ClientContext* context = ClientContextOf(conn);
  if (context == nullptr) return arrow::Status::IOError("connection has no context");
  duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>> statements;
  ARROW_RETURN_NOT_OK(ParseStatements(*context, sql, nullptr, &statements));
  if (statements.size() != 1) return false;
  const StatementReads reads = ReadsOf(*statements[0]);
  bool whole = false;
  ARROW_RETURN_NOT_OK(InTransactionOf(*context, [&] {
    whole = WholeTableRead(*context, *statements[0], reads).has_value();
    return arrow::Status::OK();
  }));
  return whole;
}

arrow::Status StatementGuard::CheckKind(const duckdb::SQLStatement& statement) const {
  using duckdb::StatementType;
  const StatementType type = statement.type;
  if (type == StatementType::SELECT_STATEMENT) return arrow::Status::OK();
  if (type == StatementType::MULTI_STATEMENT) {
    // One statement DuckDB runs in steps: each step is judged.
    for (const auto& step : statement.Cast<duckdb::MultiStatement>().statements) {
      ARROW_RETURN_NOT_OK(CheckKind(*step));
    }
    return arrow::Status::OK();
  }
  // Not a matter of rights: a client's statement runs on a connection whose transaction
  // only the server (or the Flight SQL transaction API) may end.
  if (type == StatementType::TRANSACTION_STATEMENT) {
    return arrow::Status::Invalid(kTransactionControlRefused);
  }
  if (type == StatementType::PRAGMA_STATEMENT) {
    const std::string name =
        statement.Cast<duckdb::PragmaStatement>().info->name.GetIdentifierName();
    if (AllowedPragma(name)) return arrow::Status::OK();
    return PermissionDenied("SQL sandbox: PRAGMA ", name, " is refused for every user (allowed: "
                            "table_info, show, show_tables, version, platform)");
  }
  if (type == StatementType::CREATE_STATEMENT) {
    const auto& info = *statement.Cast<duckdb::CreateStatement>().info;
    if (!AllowedCreate(info.type)) {
      return PermissionDenied("SQL sandbox: CREATE ", duckdb::CatalogTypeToString(info.type),
                              " is refused for every user (macros and functions would run "
                              "SQL the sandbox cannot see when they are called; secrets hold "
                              "credentials)");
    }
  }
  if (type == StatementType::COPY_STATEMENT &&
      !statement.Cast<duckdb::CopyStatement>().info->is_from) {
    return PermissionDenied("SQL sandbox: COPY ... TO writes a file on the server and is "
                            "refused for every user; read results through the server's "
                            "formats instead (Arrow, Parquet, CSV, JSON)");
  }
  if (AdminKind(type)) {
    if (!principal_.IsAdmin()) {
      return PermissionDenied("SQL sandbox: ", KindName(type), " is refused for user '",
                              principal_.user, "' (role ",
                              principal_.CanWrite() ? "writer" : "reader",
                              "): only SELECT statements are allowed; ingest writes data");
    }
    if (type == StatementType::EXPLAIN_STATEMENT) {
      return CheckKind(*statement.Cast<duckdb::ExplainStatement>().stmt);
    }
    return arrow::Status::OK();
  }
  return PermissionDenied("SQL sandbox: ", KindName(type),
                          " statements are refused for every user: they would reach the "
                          "server's files, settings, extensions or other databases");
}

arrow::Status StatementGuard::CheckWrites(const duckdb::SQLStatement& statement) const {
  auto targets = WritesOf(statement);
  if (!targets) {
    return PermissionDenied("SQL sandbox: the statement's target is not a plain table");
  }
  for (const auto& target : *targets) {
    if (IsServerState(target.catalog, target.schema, target.name, target.is_schema)) {
      return ServerStateRefused(target.ToString(), "written, altered or dropped");
    }
    if (IsSystemCatalog(target.catalog, target.schema)) {
      return PermissionDenied("SQL sandbox: '", target.ToString(),
                              "' is DuckDB's system catalog and cannot be changed");
    }
  }
  return arrow::Status::OK();
}

arrow::Status StatementGuard::CheckNestedWrites(const StatementReads& reads) const {
  if (reads.writes.empty()) return arrow::Status::OK();
  if (!principal_.IsAdmin()) {
    return PermissionDenied("SQL sandbox: the statement changes '", reads.writes[0].ToString(),
                            "' (INSERT, UPDATE, DELETE or MERGE, also inside WITH), which is "
                            "refused for user '", principal_.user, "' (role ",
                            principal_.CanWrite() ? "writer" : "reader",
                            "): only SELECT statements are allowed; ingest writes data");
  }
  for (const auto& target : reads.writes) {
    if (IsServerState(target.catalog, target.schema, target.name, false)) {
      return ServerStateRefused(target.ToString(), "written, altered or dropped");
    }
    if (IsSystemCatalog(target.catalog, target.schema)) {
      return PermissionDenied("SQL sandbox: '", target.ToString(),
                              "' is DuckDB's system catalog and cannot be changed");
    }
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
