#include "arrowport/query/query_pipeline.h"

#include <nlohmann/json.hpp>

#include <optional>

#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/client_principal.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/json_util.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/metrics/metering_reader.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/catalog/relation_sql.h"

namespace arrowport::query {

std::string QueryRequest::ToSql() const {
  if (table.empty()) return sql;
  if (row_part) return storage::SelectRowRange(table, columns, {row_part->begin, row_part->end});
  return storage::SelectFromTable(table, columns, limit);
}

namespace {

// A ticket's "params": strings, numbers and booleans, as text.
arrow::Status ParseTicketParams(const nlohmann::json& params,
                                std::vector<std::string>* parameters) {
  if (!params.is_array()) return arrow::Status::Invalid("'params' must be a list");
  for (const auto& p : params) {
    if (p.is_string()) {
      parameters->push_back(p.get<std::string>());
    } else if (p.is_number() || p.is_boolean()) {
      parameters->push_back(p.dump());
    } else {
      return arrow::Status::Invalid("'params' entries must be strings, numbers or booleans");
    }
  }
  return arrow::Status::OK();
}

// A ticket's "lake": {"version", "part", "parts"[, "id"]}, one group of a lake table's
// files.
arrow::Result<QueryRequest::LakePart> ParseLakePart(const nlohmann::json& part) {
  if (!part.is_object() || !part.contains("version") || !part.contains("part") ||
      !part.contains("parts") || !part["version"].is_number_integer() ||
      !part["part"].is_number_integer() || !part["parts"].is_number_integer()) {
    return arrow::Status::Invalid("'lake' must be {\"version\", \"part\", \"parts\"}");
  }
  QueryRequest::LakePart lake;
  lake.version = part["version"].get<int64_t>();
  const int64_t index = part["part"].get<int64_t>(), parts = part["parts"].get<int64_t>();
  if (lake.version < 0 || parts < 1 || parts > 1024 || index < 0 || index >= parts) {
    return arrow::Status::Invalid("'lake' part out of range");
  }
  lake.part = static_cast<int>(index);
  lake.parts = static_cast<int>(parts);
  if (part.contains("id")) {
    if (!part["id"].is_string()) return arrow::Status::Invalid("'lake' id must be a string");
    lake.table_id = part["id"].get<std::string>();
  }
  return lake;
}

// A ticket's "rows": {"from", "to", "table": {"oid", "shape", "rows", "rowid_end"}}, a
// row-id range of the table as it was when the endpoints were planned.
arrow::Result<QueryRequest::RowPart> ParseRowPart(const nlohmann::json& part) {
  const auto integer = [&part](const char* name) {
    return part.contains(name) && part[name].is_number_integer();
  };
  if (!part.is_object() || part.size() != 3 || !integer("from") || !integer("to") ||
      !part.contains("table") || !part["table"].is_object() ||
      part["table"].size() != 4) {
    return arrow::Status::Invalid(
        "'rows' must be {\"from\", \"to\", \"table\": {\"oid\", \"shape\", "
        "\"rows\", \"rowid_end\"}}");
  }
  const auto& table = part["table"];
  for (const char* name : {"oid", "shape", "rows", "rowid_end"}) {
    if (!table.contains(name) || !table[name].is_number_integer()) {
      return arrow::Status::Invalid("'rows.table' needs integer '", name, "'");
    }
  }
  QueryRequest::RowPart rows;
  rows.begin = part["from"].get<int64_t>();
  rows.end = part["to"].get<int64_t>();
  rows.table_oid = table["oid"].get<int64_t>();
  rows.table_shape = table["shape"].get<int64_t>();
  rows.table_rows = table["rows"].get<int64_t>();
  rows.table_rowid_end = table["rowid_end"].get<int64_t>();
  if (rows.begin < 0 || rows.end < rows.begin || rows.table_rowid_end < rows.end ||
      rows.table_rows < 0) {
    return arrow::Status::Invalid("'rows' range out of order");
  }
  return rows;
}

// A JSON ticket's fields into `request`, each checked on its own.
arrow::Status ParseTicketJson(const std::string& ticket, QueryRequest* request) {
  auto doc = nlohmann::json::parse(ticket, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return arrow::Status::Invalid("ticket is not valid JSON");
  }
  for (const auto& item : doc.items()) {
    const auto& key = item.key();
    if (key == "sql" || key == "query") {
      if (!item.value().is_string()) return arrow::Status::Invalid("'sql' must be a string");
      request->sql = item.value().get<std::string>();
    } else if (key == "table") {
      if (!item.value().is_string()) {
        return arrow::Status::Invalid("'table' must be a string");
      }
      request->table = item.value().get<std::string>();
    } else if (key == "params") {
      ARROW_RETURN_NOT_OK(ParseTicketParams(item.value(), &request->parameters));
    } else if (key == "lake") {
      ARROW_ASSIGN_OR_RAISE(request->lake_part, ParseLakePart(item.value()));
    } else if (key == "rows") {
      ARROW_ASSIGN_OR_RAISE(request->row_part, ParseRowPart(item.value()));
    } else if (key == "columns") {
      if (!item.value().is_array()) return arrow::Status::Invalid("'columns' must be a list");
      for (const auto& column : item.value()) {
        if (!column.is_string()) return arrow::Status::Invalid("'columns' holds names");
        request->columns.push_back(column.get<std::string>());
        ARROW_RETURN_NOT_OK(ValidateName("column", request->columns.back()));
      }
    } else {
      return arrow::Status::Invalid("ticket: unknown field '", key,
                                    "' (known: sql, table, params, columns, lake, rows)");
    }
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<QueryRequest> ParseTicket(const std::string& ticket) {
  QueryRequest request;
  if (!LooksLikeJsonObject(ticket)) {
    request.sql = ticket;
  } else {
    ARROW_RETURN_NOT_OK(ParseTicketJson(ticket, &request));
  }
  if (request.lake_part && (request.table.empty() || !request.parameters.empty() ||
                            !request.columns.empty() || request.row_part)) {
    return arrow::Status::Invalid("'lake' goes with 'table' alone");
  }
  if (request.row_part && (request.table.empty() || !request.parameters.empty())) {
    return arrow::Status::Invalid("'rows' goes with 'table' (and 'columns') alone");
  }
  if (!request.columns.empty() && request.table.empty()) {
    return arrow::Status::Invalid("'columns' goes with 'table'");
  }
  if (!request.table.empty()) {
    if (!request.sql.empty()) return arrow::Status::Invalid("give either 'sql' or 'table', not both");
    ARROW_RETURN_NOT_OK(ValidateName("table", request.table));
  } else if (request.sql.find_first_not_of(" \t\r\n;") == std::string::npos) {
    return arrow::Status::Invalid("empty query: ticket needs SQL text, {\"sql\": ...} or "
                                  "{\"table\": ...}");
  }
  return request;
}

std::string TicketOf(const QueryRequest& request) {
  nlohmann::json doc;
  if (!request.table.empty()) {
    doc["table"] = request.table;
  } else {
    doc["sql"] = request.sql;
  }
  if (!request.parameters.empty()) doc["params"] = request.parameters;
  if (!request.columns.empty()) doc["columns"] = request.columns;
  if (request.lake_part) {
    doc["lake"] = {{"version", request.lake_part->version},
                   {"part", request.lake_part->part},
                   {"parts", request.lake_part->parts}};
    if (!request.lake_part->table_id.empty()) doc["lake"]["id"] = request.lake_part->table_id;
  }
  if (request.row_part) {
    const auto& part = *request.row_part;
    doc["rows"] = {{"from", part.begin},
                   {"to", part.end},
                   {"table", {{"oid", part.table_oid},
                              {"shape", part.table_shape},
                              {"rows", part.table_rows},
                              {"rowid_end", part.table_rowid_end}}}};
  }
  return doc.dump();
}

std::vector<std::string> LakeTickets(const std::string& table,
                                     const QueryRequest::LakePart& layout) {
  std::vector<std::string> tickets;
  QueryRequest one;
  one.table = table;
  for (int part = 0; part < layout.parts; ++part) {
    one.lake_part = layout;
    one.lake_part->part = part;
    tickets.push_back(TicketOf(one));
  }
  return tickets;
}

QueryPipeline::QueryPipeline(storage::Database* database, int64_t batch_rows,
                             metrics::ServerMetrics* metrics)
    : database_(database), batch_rows_(batch_rows), metrics_(metrics) {}

arrow::Status QueryPipeline::CheckTable(storage::Connection* conn, const QueryRequest& request) {
  if (request.table.empty()) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(const bool exists, conn->RelationExists(request.table));
  if (!exists) return arrow::Status::KeyError("table '", request.table, "' does not exist");
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Schema>> QueryPipeline::Describe(
    const QueryRequest& request, const CallContext& call) {
  ARROW_RETURN_NOT_OK(RefreshLakes(request, call));
  ARROW_ASSIGN_OR_RAISE(auto conn, database_->Connect());
  ARROW_RETURN_NOT_OK(CheckTable(conn.get(), request));
  auto interrupt = conn->InterruptOn(call.cancellation);  // binding reads lake footers
  return conn->DescribeQuery(request.ToSql(), ClientPrincipal(call).get());
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> QueryPipeline::Execute(
    const QueryRequest& request, const CallContext& call) {
  const auto start = std::chrono::steady_clock::now();
  // A part of a snapshot this node handed out needs no refresh; another node's may be of a
  // table this node has not published yet.
  if (!request.lake_part || request.lake_part->from_cluster) {
    ARROW_RETURN_NOT_OK(RefreshLakes(request, call));
  }
  auto reader = [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> {
    ARROW_ASSIGN_OR_RAISE(auto conn, database_->ConnectForRead());
    ARROW_RETURN_NOT_OK(CheckTable(conn.get(), request));
    storage::QueryOptions options;
    options.batch_rows = batch_rows_;
    options.parameters = request.parameters;
    options.cancellation = call.cancellation;
    options.progress = WatchedProgress(call);
    options.principal = ClientPrincipal(call);
    std::string sql = request.ToSql();
    if (request.row_part) {
      // The table's identity is checked in the transaction the range is read in: a table
      // replaced in between is never read by another table's row ids.
      // Ours, read-only, gone with the connection: the range still converts in parallel
      // (a client's open transaction would not; endpoints read at half speed).
      ARROW_RETURN_NOT_OK(conn->BeginReadSnapshot());
      ARROW_ASSIGN_OR_RAISE(sql, RowPartSql(conn.get(), request));
    } else if (request.lake_part) {
      if (!lake_reads_.part_sql) {
        return arrow::Status::Invalid("this server reads no lake tables in parts");
      }
      // The caller may read the table (checked by the protocol); the SQL and its files
      // are the server's own (clients cannot read_parquet), so it runs unjudged.
      ARROW_ASSIGN_OR_RAISE(sql, lake_reads_.part_sql(request.table, *request.lake_part));
      options.principal = nullptr;
    }
    return storage::Connection::Query(std::move(conn), sql, options);
  }();
  if (!reader.ok()) {
    // A query refused or failed before its first row ends here: counted as failed.
    MeterEnded(call, start, false);
    return reader.status();
  }
  return Metered(std::move(*reader), call, start);
}

std::shared_ptr<arrow::RecordBatchReader> QueryPipeline::Metered(
    std::shared_ptr<arrow::RecordBatchReader> reader, const CallContext& call,
    std::chrono::steady_clock::time_point start) const {
  return metrics::MeterResult(std::move(reader), metrics_, call.protocol, call.progress, start);
}

arrow::Result<std::string> QueryPipeline::RowPartSql(storage::Connection* conn,
                                                     const QueryRequest& request) {
  const auto& part = *request.row_part;
  ARROW_ASSIGN_OR_RAISE(auto now, storage::ExtentBelow(conn, request.table, part.table_rowid_end));
  if (!now || now->oid != part.table_oid) {
    // Row ids of another table (replaced, or dropped and made again) would mix tables.
    return arrow::Status::Invalid(
        "table '", request.table, "' was replaced after its endpoints were handed out; "
        "call GetFlightInfo again");
  }
  if (now->shape != part.table_shape || now->rows != part.table_rows) {
    // Deleted, moved or renumbered rows would be read twice or missed.
    return arrow::Status::Invalid(
        "table '", request.table, "' changed (rows deleted or updated, or its columns "
        "altered) after its endpoints were handed out; call GetFlightInfo again");
  }
  return request.ToSql();
}

ReadPlan QueryPipeline::PlanRead(const QueryRequest& request, bool count_rows,
                                 const std::shared_ptr<CallCancellation>& cancellation) {
  ReadPlan plan;
  const bool whole = !request.table.empty() && request.parameters.empty() && !request.limit &&
                     !request.lake_part && !request.row_part &&
                     ValidateName("table", request.table).ok();
  // The server's own lookups: on the database's kept catalog connection.
  std::optional<storage::Database::CatalogLease> conn;
  if (!request.table.empty()) {
    auto leased = database_->LeaseCatalogConnection();
    if (leased.ok()) conn.emplace(std::move(*leased));
  }
  auto count = [&] {
    if (!count_rows || !conn) return;
    // A lake's count reads every file's footer: a client that left must not wait it out.
    auto stop = conn->get()->InterruptOn(cancellation);
    auto counted = storage::CountRows(conn->get(), request.table);
    if (counted.ok()) plan.rows = *counted;
  };
  if (whole && request.columns.empty()) {
    if (auto layout = LakeLayout(request.table)) {
      plan.tickets = LakeTickets(request.table, *layout);
      plan.anywhere = true;
      plan.ordered = false;
      count();
      return plan;
    }
  }
  const TableSplit split = table_split_;
  if (whole && split.max_parts > 1 && conn) {
    // Planning is an optimisation: a table it cannot size is read by one ticket.
    auto extent = storage::SplittableExtentOf(conn->get(), request.table, split.rows_per_part);
    // (Row ids beyond 2^48 are not DuckDB's: no arithmetic near overflow.)
    if (extent.ok() && *extent && (*extent)->rowid_end > split.rows_per_part &&
        (*extent)->rowid_end < (int64_t{1} << 48) && split.rows_per_part > 0) {
      const storage::TableExtent& table = **extent;
      const int64_t parts =
          std::min<int64_t>(split.max_parts, table.rowid_end / split.rows_per_part +
                                                 (table.rowid_end % split.rows_per_part != 0));
      // Parts of whole row groups (DuckDB's unit of storage and of parallel scans).
      int64_t step = (table.rowid_end + parts - 1) / parts;
      step = (step + table.row_group_rows - 1) / table.row_group_rows * table.row_group_rows;
      QueryRequest part = request;
      for (int64_t begin = 0; begin < table.rowid_end; begin += step) {
        part.row_part = QueryRequest::RowPart{begin,       std::min(begin + step, table.rowid_end),
                                              table.oid,   table.shape,
                                              table.rows,  table.rowid_end};
        plan.tickets.push_back(TicketOf(part));
      }
      plan.rows = table.rows;
      return plan;
    }
  }
  plan.tickets.push_back(TicketOf(request));
  count();
  return plan;
}

arrow::Status QueryPipeline::RefreshLakesNamedIn(const std::string& sql,
                                                 const CallContext& call) const {
  QueryRequest request;
  request.sql = sql;
  return RefreshLakes(request, call);
}

arrow::Status QueryPipeline::RefreshLakes(const QueryRequest& request,
                                          const CallContext& call) const {
  if (!lake_reads_.refresh) return arrow::Status::OK();
  arrow::Status refreshed;
  {
    // The store's log reads end with the call (client gone, deadline, shutdown), and a
    // wait for a locked catalog once the reply is due (it then reaches the client before
    // its deadline, naming the lock).
    ThreadCancellationScope obey_call(ThreadCancellation{
        call.cancellation, std::nullopt, [&call] { return TooLateToKeep(call); }});
    refreshed = lake_reads_.refresh(request.table.empty() ? request.sql : request.table);
  }
  // A refresh the call's end cut leaves the view as it was (a store failing, logged): the
  // call ends here, not over the old view (a prepare then bound it, and answered OK after
  // its deadline, when the old files' footers needed no read).
  if (call.cancellation && call.cancellation->cancelled()) {
    const arrow::Status why = call.cancellation->reason();
    if (refreshed.ok() || refreshed.message().find(why.message()) != std::string::npos) {
      return why;
    }
    return why.WithMessage(why.message(), "; it was waiting for: ", refreshed.message());
  }
  return refreshed;
}

std::optional<QueryRequest::LakePart> QueryPipeline::LakeLayout(const std::string& table) const {
  if (!lake_reads_.layout) return std::nullopt;
  return lake_reads_.layout(table);
}

arrow::Result<std::vector<storage::TableInfo>> QueryPipeline::ListTables() {
  ARROW_ASSIGN_OR_RAISE(auto conn, database_->Connect());
  return conn->ListRelations();
}

arrow::Result<int64_t> QueryPipeline::CountRows(const std::string& table) {
  ARROW_RETURN_NOT_OK(ValidateName("table", table));
  ARROW_ASSIGN_OR_RAISE(auto conn, database_->Connect());
  return storage::CountRows(conn.get(), table);
}

}  // namespace arrowport::query
