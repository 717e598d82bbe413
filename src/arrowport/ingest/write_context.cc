#include "arrowport/ingest/write_context.h"

#include "arrowport/ingest/table_cache.h"
#include "arrowport/ingest/table_locks.h"
#include "arrowport/storage/connection.h"
#include "arrowport/storage/shared_connection.h"
#include "arrowport/storage/table_writer.h"

namespace arrowport::ingest {

using storage::ColumnInfo;

arrow::Result<std::optional<std::vector<ColumnInfo>>> PrepareTarget(WriteContext* ctx) {
  ARROW_ASSIGN_OR_RAISE(auto existing, ctx->conn->DescribeRelation(ctx->table()));
  const WriteMode mode = ctx->request->mode;
  if (existing && mode == WriteMode::kCreate) {
    return arrow::Status::AlreadyExists("table ", ctx->table().ToString(),
                                        " already exists (mode=create)");
  }
  if (existing && mode == WriteMode::kReplace) {
    ARROW_RETURN_NOT_OK(storage::DropTable(ctx->conn, ctx->table()));
    existing.reset();
  }
  return existing;
}

arrow::Result<ColumnPlan> EnsureTable(WriteContext* ctx,
                                      std::optional<std::vector<ColumnInfo>> existing,
                                      const std::vector<ColumnInfo>& incoming) {
  if (!existing) {
    ARROW_RETURN_NOT_OK(storage::CreateTable(ctx->conn, ctx->table(), incoming));
    ctx->result->created = true;
    existing = incoming;
  }
  ARROW_ASSIGN_OR_RAISE(auto plan,
                        PlanColumns(ctx->table().ToString(), incoming, *existing, ctx->policy));
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
  if (!current.ok() || NeedsDdl(*current, incoming, ctx->request->mode, ctx->policy)) {
    ctx->ddl_mutex = ctx->locks->For(ctx->table().ToString());
    ctx->ddl = std::unique_lock<std::mutex>(*ctx->ddl_mutex);
  }
  auto begun = ctx->lease->Begin();
  if (!begun.ok()) ctx->conn->DropArrowStream(relation);
  return begun;
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
