#include "arrowport/ingest/write_context.h"

#include "arrowport/ingest/table_cache.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/shared_connection.h"
#include "arrowport/storage/catalog/table_writer.h"

namespace arrowport::ingest {

using storage::ColumnInfo;

namespace {

// Holds the table alone for the open transaction before its DDL (an upgrade when the
// request began as a writer on a stale view of the table), until the call is cancelled.
arrow::Status HoldToReshape(WriteContext* ctx) {
  const auto& cancellation = ctx->call->cancellation;
  auto held = ctx->conn->Hold(ctx->table(), storage::TableUse::kReshape, cancellation);
  return held.status();
}

}  // namespace

arrow::Result<std::optional<std::vector<ColumnInfo>>> PrepareTarget(WriteContext* ctx) {
  ARROW_ASSIGN_OR_RAISE(auto existing, ctx->conn->DescribeRelation(ctx->table()));
  if (existing) {
    // A view (a lake stream's, a configured Parquet view) takes no rows; said before
    // DuckDB's "is not an table" aborts the transaction.
    ARROW_ASSIGN_OR_RAISE(const bool view, ctx->conn->IsView(ctx->table()));
    if (view) {
      return arrow::Status::Invalid(
          "table ", ctx->table().ToString(), " is a view (a lake stream's or a configured "
          "one), which takes no rows; DuckDB's names ignore case, so a view named in "
          "another case is the same name: write to another stream or set \"table\"");
    }
  }
  const WriteMode mode = ctx->request->mode;
  if (existing && mode == WriteMode::kCreate) {
    return arrow::Status::AlreadyExists("table ", ctx->table().ToString(),
                                        " already exists (mode=create)");
  }
  if (existing && mode == WriteMode::kReplace) {
    ARROW_RETURN_NOT_OK(HoldToReshape(ctx));
    ARROW_RETURN_NOT_OK(storage::DropTable(ctx->conn, ctx->table()));
    existing.reset();
  }
  return existing;
}

arrow::Result<ColumnPlan> EnsureTable(WriteContext* ctx,
                                      std::optional<std::vector<ColumnInfo>> existing,
                                      const std::vector<ColumnInfo>& incoming) {
  if (!existing) {
    ARROW_RETURN_NOT_OK(HoldToReshape(ctx));
    ARROW_RETURN_NOT_OK(storage::CreateTable(ctx->conn, ctx->table(), incoming));
    ctx->result->created = true;
    existing = incoming;
  }
  ARROW_ASSIGN_OR_RAISE(auto plan,
                        PlanColumns(ctx->table().ToString(), incoming, *existing, ctx->policy));
  if (!plan.added.empty()) ARROW_RETURN_NOT_OK(HoldToReshape(ctx));
  for (const auto& column : plan.added) {
    ARROW_RETURN_NOT_OK(storage::AddColumn(ctx->conn, ctx->table(), column));
  }
  return plan;
}

arrow::Result<std::string> RegisterStream(WriteContext* ctx,
                                          std::shared_ptr<arrow::RecordBatchReader> reader,
                                          std::vector<ColumnInfo>* incoming) {
  auto cached = ctx->cache->Mapping(ctx->mapping_key);
  ARROW_ASSIGN_OR_RAISE(auto relation, ctx->conn->RegisterArrowStream(
                                           std::move(reader), cached ? nullptr : incoming));
  if (cached) {
    *incoming = std::move(*cached);
  } else {
    ctx->cache->StoreMapping(ctx->mapping_key, *incoming);
  }
  return relation;
}

arrow::Status OpenWrite(WriteContext* ctx, const std::string& relation,
                        const std::vector<ColumnInfo>& incoming) {
  auto current = ctx->conn->DescribeRelation(ctx->table());
  // Decided on the table as it is before the wait: a shape that changes meanwhile is
  // caught in the transaction, where EnsureTable's DDL holds the table alone anyway.
  const bool ddl =
      !current.ok() || NeedsDdl(*current, incoming, ctx->request->mode, ctx->policy);
  const auto use = ddl ? storage::TableUse::kReshape : storage::TableUse::kWrite;
  auto held = ctx->conn->Hold(ctx->table(), use, ctx->call->cancellation);
  arrow::Status begun = held.status();
  if (held.ok()) {
    ctx->hold = std::move(*held);
    begun = ctx->lease->Begin();
    if (!begun.ok()) ctx->hold.Release();
  }
  if (!begun.ok()) ctx->conn->DropArrowStream(relation);
  return begun;
}

arrow::Status HoldTarget(WriteContext* ctx) {
  const auto& cancellation = ctx->call->cancellation;
  ARROW_ASSIGN_OR_RAISE(
      ctx->hold, ctx->conn->Hold(ctx->table(), storage::TableUse::kWrite, cancellation));
  return arrow::Status::OK();
}

arrow::Result<std::optional<std::vector<ColumnInfo>>> RefreshTable(WriteContext* ctx) {
  auto now = ctx->conn->DescribeRelation(ctx->table());
  ctx->cache->StoreTable(ctx->conn, ctx->table(), now.ok() ? *now : std::nullopt);
  return now;
}

arrow::Status CheckCallStillValid(const WriteContext& ctx) {
  return CheckCallStillValid(*ctx.call);
}

arrow::Status CheckCallStillValid(const CallContext& call) {
  if (TooLateToKeep(call)) {
    return arrow::Status::Cancelled("the call failed before the request was committed "
                                    "(client gone, deadline passed or too near to answer in "
                                    "time, or a message over the receive limit): nothing "
                                    "committed");
  }
  return arrow::Status::OK();
}

arrow::Status CommitWrite(const WriteContext& ctx) {
  ARROW_RETURN_NOT_OK(ctx.lease->Commit());
  NoteCommitted(*ctx.call);
  return arrow::Status::OK();
}

}  // namespace arrowport::ingest
