#include "arrowport/ingest/ingest_pipeline.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>

#include "arrow/record_batch.h"
#include "arrow/util/byte_size.h"
#include "arrowport/common/identifier.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/storage/database.h"
#include "arrowport/storage/type_mapping.h"

namespace arrowport::ingest {

namespace {

using storage::ColumnInfo;

// Marks schema mismatches so protocols can tell them from other invalid input.
class SchemaMismatchDetail : public arrow::StatusDetail {
 public:
  static constexpr const char* kTypeId = "arrowport::schema_mismatch";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return "schema mismatch"; }
};

template <typename... Args>
arrow::Status SchemaMismatch(Args&&... args) {
  return arrow::Status::Invalid(std::forward<Args>(args)...)
      .WithDetail(std::make_shared<SchemaMismatchDetail>());
}

std::string Lower(const std::string& s) {
  std::string out = s;
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Counts what DuckDB pulls through the scan, so the response reports what was received.
class CountingReader : public arrow::RecordBatchReader {
 public:
  explicit CountingReader(std::shared_ptr<arrow::RecordBatchReader> source)
      : source_(std::move(source)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return source_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    ARROW_RETURN_NOT_OK(source_->ReadNext(out));
    if (*out) {
      rows_ += (*out)->num_rows();
      batches_ += 1;
      bytes_ += arrow::util::TotalBufferSize(**out);
    }
    return arrow::Status::OK();
  }
  int64_t rows() const { return rows_; }
  int64_t batches() const { return batches_; }
  int64_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<arrow::RecordBatchReader> source_;
  std::atomic<int64_t> rows_{0}, batches_{0}, bytes_{0};
};

struct ColumnPlan {
  std::vector<std::string> alter_statements;
  std::string insert_sql;
};

// Matches incoming columns to table columns by name (never position) under the policy.
arrow::Result<ColumnPlan> PlanColumns(const std::string& table, const std::string& relation,
                                      const std::vector<ColumnInfo>& incoming,
                                      const std::vector<ColumnInfo>& existing,
                                      config::SchemaPolicy policy) {
  const char* policy_name = config::ToString(policy);
  std::map<std::string, const ColumnInfo*> by_name;
  for (const auto& column : existing) by_name[Lower(column.name)] = &column;
  ColumnPlan plan;
  std::vector<std::string> targets, sources;
  std::map<std::string, bool> matched;
  for (const auto& column : incoming) {
    auto it = by_name.find(Lower(column.name));
    if (it == by_name.end()) {
      if (policy == config::SchemaPolicy::kIgnoreExtra) continue;
      if (policy == config::SchemaPolicy::kStrict) {
        return SchemaMismatch("column '", column.name, "' (", column.type,
                                      ") does not exist in table ", table,
                                      " (schema_policy=strict; use add_columns or "
                                      "ignore_extra to accept it)");
      }
      plan.alter_statements.push_back("ALTER TABLE " + QuoteIdentifier(table) +
                                      " ADD COLUMN " + QuoteIdentifier(column.name) + " " +
                                      storage::StorageTypeFor(column.type));
      targets.push_back(QuoteIdentifier(column.name));
      sources.push_back(QuoteIdentifier(column.name));
      continue;
    }
    const ColumnInfo& target = *it->second;
    if (!storage::IsSafeConversion(column.type, target.type)) {
      return SchemaMismatch("column '", column.name, "' is ", column.type,
                                    " but table ", table, ".", target.name, " is ",
                                    target.type, " (schema_policy=", policy_name, ")");
    }
    matched[Lower(target.name)] = true;
    targets.push_back(QuoteIdentifier(target.name));
    sources.push_back(QuoteIdentifier(column.name));
  }
  for (const auto& column : existing) {
    if (!matched.count(Lower(column.name)) && !column.nullable) {
      return SchemaMismatch("table ", table, ".", column.name,
                                    " is NOT NULL but the stream has no column '",
                                    column.name, "'");
    }
  }
  if (targets.empty()) {
    return SchemaMismatch("no column of the stream matches a column of table ", table);
  }
  auto join = [](const std::vector<std::string>& parts) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
    return out;
  };
  plan.insert_sql = "INSERT INTO " + QuoteIdentifier(table) + " (" + join(targets) +
                    ") SELECT " + join(sources) + " FROM " + relation;
  return plan;
}

std::string CreateTableSql(const std::string& table, const std::vector<ColumnInfo>& columns) {
  std::string sql = "CREATE TABLE " + QuoteIdentifier(table) + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) sql += ", ";
    sql += QuoteIdentifier(columns[i].name) + " " + storage::StorageTypeFor(columns[i].type);
  }
  return sql + ")";
}

// Applies the write mode to the target and returns its columns (nullopt: must be created).
arrow::Result<std::optional<std::vector<ColumnInfo>>> PrepareTarget(
    storage::Connection* conn, const std::string& table, WriteMode mode) {
  ARROW_ASSIGN_OR_RAISE(auto existing, conn->DescribeRelation(table));
  if (existing && mode == WriteMode::kCreate) {
    return arrow::Status::AlreadyExists("table ", table, " already exists (mode=create)");
  }
  if (existing && mode == WriteMode::kReplace) {
    ARROW_RETURN_NOT_OK(conn->Execute("DROP TABLE " + QuoteIdentifier(table)));
    existing.reset();
  }
  return existing;
}

// Creates or evolves the table for `incoming` and returns the INSERT plan.
arrow::Result<ColumnPlan> EnsureTable(storage::Connection* conn, const std::string& table,
                                      const std::string& relation,
                                      std::optional<std::vector<ColumnInfo>> existing,
                                      const std::vector<ColumnInfo>& incoming,
                                      config::SchemaPolicy policy, bool* created) {
  if (!existing) {
    for (const auto& column : incoming) {
      if (column.type == "NULL" || column.type == "\"NULL\"") {
        return arrow::Status::Invalid(
            "column '", column.name,
            "' has Arrow type null (no values to infer a type from); cast it to a concrete "
            "type on the client, or create the table first");
      }
    }
    ARROW_RETURN_NOT_OK(conn->Execute(CreateTableSql(table, incoming)));
    *created = true;
    existing = incoming;
  }
  ARROW_ASSIGN_OR_RAISE(auto plan, PlanColumns(table, relation, incoming, *existing, policy));
  for (const auto& sql : plan.alter_statements) ARROW_RETURN_NOT_OK(conn->Execute(sql));
  return plan;
}

}  // namespace

bool IsSchemaMismatch(const arrow::Status& status) {
  return status.detail() != nullptr &&
         std::string(status.detail()->type_id()) == SchemaMismatchDetail::kTypeId;
}

IngestPipeline::IngestPipeline(storage::Database* database, StreamRouter* router)
    : database_(database), router_(router) {}

arrow::Result<IngestResult> IngestPipeline::Ingest(
    const IngestRequest& request, std::shared_ptr<arrow::RecordBatchReader> source,
    const BatchCommitted& on_commit) {
  const auto start = std::chrono::steady_clock::now();
  const config::StreamConfig route = router_->Route(request.stream);
  IngestResult result;
  result.stream = request.stream;
  result.table = request.table.empty() ? route.target_table : request.table;
  const auto commit = request.commit.value_or(route.commit);
  auto schema = source->schema();

  auto run = [&]() -> arrow::Status {
    ARROW_RETURN_NOT_OK(ValidateName("stream", request.stream));
    ARROW_RETURN_NOT_OK(ValidateName("table", result.table));
    ARROW_RETURN_NOT_OK(storage::CheckIngestSchema(*schema, /*creating=*/false));
    ARROW_ASSIGN_OR_RAISE(auto conn, database_->Connect());
    if (commit == config::CommitMode::kPerRequest) {
      // One statement scans the whole request as it arrives; one transaction commits it.
      auto counting = std::make_shared<CountingReader>(source);
      std::vector<ColumnInfo> incoming;
      ARROW_ASSIGN_OR_RAISE(auto relation, conn->RegisterArrowStream(counting, &incoming));
      ARROW_RETURN_NOT_OK(conn->Begin());
      auto st = [&]() -> arrow::Status {
        ARROW_ASSIGN_OR_RAISE(auto existing,
                              PrepareTarget(conn.get(), result.table, request.mode));
        ARROW_ASSIGN_OR_RAISE(auto plan, EnsureTable(conn.get(), result.table, relation,
                                                     existing, incoming, route.schema_policy,
                                                     &result.created));
        ARROW_RETURN_NOT_OK(conn->ExecuteUpdate(plan.insert_sql));
        return conn->Commit();
      }();
      if (!st.ok()) conn->Rollback();
      conn->DropArrowStream(relation);
      ARROW_RETURN_NOT_OK(st);
      result.rows = counting->rows();
      result.batches = counting->batches();
      result.bytes = counting->bytes();
      return arrow::Status::OK();
    }
    // per_batch: table set-up commits first, then every batch is its own transaction.
    std::vector<ColumnInfo> incoming;
    ColumnPlan plan;
    {
      ARROW_ASSIGN_OR_RAISE(auto empty, arrow::RecordBatchReader::Make({}, schema));
      ARROW_ASSIGN_OR_RAISE(auto relation, conn->RegisterArrowStream(empty, &incoming));
      ARROW_RETURN_NOT_OK(conn->Begin());
      auto st = [&]() -> arrow::Status {
        ARROW_ASSIGN_OR_RAISE(auto existing,
                              PrepareTarget(conn.get(), result.table, request.mode));
        ARROW_ASSIGN_OR_RAISE(plan, EnsureTable(conn.get(), result.table, relation, existing,
                                                incoming, route.schema_policy,
                                                &result.created));
        return conn->Commit();
      }();
      if (!st.ok()) conn->Rollback();
      conn->DropArrowStream(relation);
      ARROW_RETURN_NOT_OK(st);
    }
    for (;;) {
      std::shared_ptr<arrow::RecordBatch> batch;
      auto read = source->ReadNext(&batch);
      if (!read.ok()) {
        return read.WithMessage("after ", result.batches, " committed batch(es): ",
                                read.message());
      }
      if (!batch) break;
      ARROW_ASSIGN_OR_RAISE(auto one, arrow::RecordBatchReader::Make({batch}, schema));
      std::vector<ColumnInfo> ignored;
      ARROW_ASSIGN_OR_RAISE(auto relation, conn->RegisterArrowStream(one, &ignored));
      // The plan's SQL names the set-up relation; this batch has its own view.
      std::string sql = plan.insert_sql;
      sql.replace(sql.rfind(" FROM ") + 6, std::string::npos, relation);
      ARROW_RETURN_NOT_OK(conn->Begin());
      auto st = conn->ExecuteUpdate(sql).status();
      if (st.ok()) st = conn->Commit();
      if (!st.ok()) conn->Rollback();
      conn->DropArrowStream(relation);
      if (!st.ok()) {
        return st.WithMessage("batch ", result.batches, " (after ", result.batches,
                              " committed): ", st.message());
      }
      result.rows += batch->num_rows();
      result.bytes += arrow::util::TotalBufferSize(*batch);
      const int64_t index = result.batches++;
      if (on_commit) ARROW_RETURN_NOT_OK(on_commit(index, batch->num_rows()));
    }
    return arrow::Status::OK();
  };

  auto st = run();
  if (!st.ok()) {
    router_->RecordError(request.stream);
    return st.WithMessage("stream '", request.stream, "' -> table ", result.table, ": ",
                          st.message());
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  router_->RecordSuccess(request.stream, result.rows, result.batches, result.bytes);
  return result;
}

}  // namespace arrowport::ingest
