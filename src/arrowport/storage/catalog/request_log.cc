#include "arrowport/storage/catalog/request_log.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "arrow/array/util.h"
#include "arrow/record_batch.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrow/util/checked_cast.h"
#include "arrow/util/string.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::storage {

namespace {

using arrow::internal::checked_cast;

constexpr const char* kRequestLogSchema = "arrowport";
constexpr const char* kRequestLogTable = "requests";

// Fully qualified: the catalog is named after the database file, and a file called
// arrowport.duckdb would make "arrowport.requests" ambiguous.
std::string QualifiedName(const Connection& conn) {
  return QuoteIdentifier(conn.catalog()) + "." + QuoteIdentifier(kRequestLogSchema) + "." +
         QuoteIdentifier(kRequestLogTable);
}

// Scoped keys all hold " to "; the keys of servers from before never do (ids have no
// spaces, a batch's key was "<id> batch <n>").
constexpr const char* kUnscoped = " WHERE request_id NOT LIKE '% to %'";

// The log is the server's own: a failure to make or re-key it (a log of a shape no server
// made, a database it cannot write) is the server's, not the request's (DuckDB's binder
// errors would read as INVALID_ARGUMENT). Typed kinds and cancellations stay as they are.
arrow::Status AsServerFailure(const arrow::Status& status) {
  if (status.ok() || status.IsCancelled() || GetErrorKind(status) != nullptr) return status;
  return arrow::Status::IOError("the server's request log (arrowport.requests) cannot be "
                                "used, so requests with an id are refused: ",
                                status.message());
}

// Entries re-keyed per transaction: what is done survives a crash or a cancelled call,
// and no transaction holds a large log's worth of changes (500,000 in one took 12 s).
constexpr int kRekeyedPerTransaction = 50000;

// Returns the number of entries handled (re-keyed, or dropped: without a table, or
// already there re-keyed). `on_progress` hears the count after each transaction.
arrow::Result<int64_t> ScopeUnscopedEntries(
    ConnectionLease* lease, const std::function<void(int64_t)>& on_progress) {
  Connection* conn = &lease->connection();
  const std::string log = QualifiedName(*conn);
  // Nothing to do, the usual case: no write transaction.
  ARROW_ASSIGN_OR_RAISE(auto any,
                        conn->QueryTable("SELECT 1 FROM " + log + kUnscoped + " LIMIT 1"));
  if (any->num_rows() == 0) return 0;
  // Ordered by bytes: under a case-blind default collation, keys that differ only in
  // case would tie, and the two statements below could pick different chunks.
  const std::string chunk = "(SELECT request_id FROM " + log + kUnscoped +
                            " ORDER BY encode(request_id) LIMIT " +
                            std::to_string(kRekeyedPerTransaction) + ")";
  int64_t handled = 0;
  for (;;) {
    auto begun = lease->Begin();
    if (!begun.ok()) {
      return begun.WithMessage("re-keying the request log's entries to their tables (",
                               handled, " done): ", begun.message());
    }
    // (An entry without a table, never written, could answer nothing: dropped.)
    // Columns named: a log with columns of its own (made by hand) still takes them.
    auto moved = conn->Execute("INSERT OR IGNORE INTO " + log +
                               " (request_id, stream, table_name, rows, batches, "
                               "committed_at) SELECT request_id || ' to ' || "
                               "lower(table_name), stream, "
                               "table_name, rows, batches, committed_at FROM " + log +
                               " WHERE table_name IS NOT NULL AND request_id IN " + chunk);
    auto deleted = moved.ok()
                       ? conn->ExecuteUpdate("DELETE FROM " + log + " WHERE request_id IN " +
                                             chunk)
                       : arrow::Result<int64_t>(moved);
    auto st = deleted.ok() ? lease->Commit() : deleted.status();
    if (!st.ok()) {
      if (lease->in_transaction()) (void)lease->RollbackOrDiscard();
      return st.WithMessage("re-keying the request log's entries to their tables (",
                            handled, " done): ", st.message());
    }
    if (*deleted == 0) return handled;
    handled += *deleted;
    if (on_progress) on_progress(handled);
  }
}

}  // namespace

RequestKey::RequestKey(const std::string& request_id, const TableName& table,
                       std::optional<int64_t> batch)
    : request(batch ? request_id + " batch " + std::to_string(*batch) : request_id),
      table(table.ToString()) {
  scoped = request + " to " + arrow::internal::AsciiToLower(this->table);
}

arrow::Result<int64_t> RequestLog::RekeyAtStart(
    ConnectionLease* lease, const std::function<void(int64_t)>& on_progress) {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_ASSIGN_OR_RAISE(auto log, lease->connection().DescribeRelation(
                                      TableName(kRequestLogSchema, kRequestLogTable)));
  if (!log) return 0;
  ARROW_ASSIGN_OR_RAISE(auto handled, ScopeUnscopedEntries(lease, on_progress));
  ready_ = true;
  return handled;
}

arrow::Status RequestLog::Ensure(ConnectionLease* lease) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ready_) return arrow::Status::OK();
  auto st = CreateAndRekey(lease);
  if (st.ok()) ready_ = true;
  return AsServerFailure(st);
}

arrow::Status RequestLog::CreateAndRekey(ConnectionLease* lease) {
  Connection* conn = &lease->connection();
  ARROW_RETURN_NOT_OK(conn->Execute(
      "CREATE SCHEMA IF NOT EXISTS " + QuoteIdentifier(conn->catalog()) + "." +
      QuoteIdentifier(kRequestLogSchema) + "; CREATE TABLE IF NOT EXISTS " +
      QualifiedName(*conn) +
      " (request_id VARCHAR PRIMARY KEY, stream VARCHAR, table_name VARCHAR, rows BIGINT, "
      "batches BIGINT, committed_at TIMESTAMP DEFAULT current_timestamp)"));
  return ScopeUnscopedEntries(lease, nullptr).status();
}

arrow::Result<TableAppend> RequestLog::Record(const RequestKey& key,
                                              const std::string& stream, int64_t rows,
                                              int64_t batches) {
  auto schema = arrow::schema(
      {arrow::field("request_id", arrow::utf8()), arrow::field("stream", arrow::utf8()),
       arrow::field("table_name", arrow::utf8()), arrow::field("rows", arrow::int64()),
       arrow::field("batches", arrow::int64()),
       arrow::field("committed_at", arrow::timestamp(arrow::TimeUnit::MICRO))});
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (const auto& value : {key.scoped, stream, key.table}) {
    ARROW_ASSIGN_OR_RAISE(auto array,
                          arrow::MakeArrayFromScalar(arrow::StringScalar(value), 1));
    columns.push_back(std::move(array));
  }
  for (int64_t value : {rows, batches}) {
    ARROW_ASSIGN_OR_RAISE(auto array,
                          arrow::MakeArrayFromScalar(arrow::Int64Scalar(value), 1));
    columns.push_back(std::move(array));
  }
  ARROW_ASSIGN_OR_RAISE(auto at,
                        arrow::MakeArrayFromScalar(
                            arrow::TimestampScalar(now_us, schema->field(5)->type()), 1));
  columns.push_back(std::move(at));
  TableAppend append;
  append.target.schema = kRequestLogSchema;
  append.target.table = kRequestLogTable;
  for (const auto& field : schema->fields()) append.columns.push_back(field->name());
  append.batches.push_back(arrow::RecordBatch::Make(schema, 1, std::move(columns)));
  return append;
}

arrow::Result<std::optional<LoggedCounts>> RequestLog::Lookup(Connection* conn,
                                                              const RequestKey& key) {
  // TRY_CAST: a log changed by hand (a count set to NULL or to text) gets an error that
  // names the entry, not a parse failure of ours.
  auto queried =
      conn->QueryTable("SELECT TRY_CAST(rows AS BIGINT), TRY_CAST(batches AS BIGINT) FROM " +
                           QualifiedName(*conn) + " WHERE request_id = $1",
                       {key.scoped});
  // A log without these columns (changed by hand: DuckDB's binder or catalog error) is
  // the server's failure too; other failures (I/O, conflicts) pass as they are.
  if (!queried.ok()) {
    const auto& st = queried.status();
    return st.IsInvalid() || st.IsKeyError() ? AsServerFailure(st) : st;
  }
  const auto& found = *queried;
  if (found->num_rows() == 0) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(auto rows, found->column(0)->GetScalar(0));
  ARROW_ASSIGN_OR_RAISE(auto batches, found->column(1)->GetScalar(0));
  if (!rows->is_valid || !batches->is_valid) {
    return arrow::Status::IOError(
        "request '", key.request, "' to ", key.table,
        " has an entry in the request log (arrowport.requests, request_id '", key.scoped,
        "') without a row or batch count: the log was changed outside the server; restore "
        "the counts or delete the entry");
  }
  return LoggedCounts{checked_cast<const arrow::Int64Scalar&>(*rows).value,
                      checked_cast<const arrow::Int64Scalar&>(*batches).value};
}

arrow::Result<LoggedCounts> RequestLog::CommittedByARacingCopy(Connection* conn,
                                                               const RequestKey& key,
                                                               const arrow::Status& failure) {
  auto prior = Lookup(conn, key);
  if (prior.ok() && *prior) return **prior;
  // DuckDB refuses a key that another transaction has written and not yet committed: the
  // racing copy holds it. It commits (or fails) soon after writing its log entry.
  const std::string refused = "Duplicate key \"request_id: " + key.scoped + "\"";
  if (failure.message().find(refused) == std::string::npos) return failure;
  // The entry that refused ours exists but cannot be read (changed by hand): say so,
  // rather than wait for a copy that is not there.
  if (!prior.ok()) return prior.status();
  auto wait = std::chrono::milliseconds(5);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds(100));
    prior = Lookup(conn, key);
    if (!prior.ok()) return prior.status();
    if (*prior) return **prior;
  }
  return RetryableConflict("another copy of request '", key.request,
                           "' is being written at the same moment; retry the request (it "
                           "will be answered as a duplicate if that copy committed)");
}

}  // namespace arrowport::storage
