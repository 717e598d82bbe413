#include "arrowport/ingest/ingest_pipeline.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>

#include "arrow/record_batch.h"
#include "arrow/array/util.h"
#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/prefetching_reader.h"
#include "arrowport/ingest/column_planner.h"
#include "arrowport/ingest/counting_reader.h"
#include "arrowport/ingest/replay_reader.h"
#include "arrowport/ingest/validating_reader.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/storage/database.h"
#include "arrowport/storage/request_log.h"
#include "arrowport/storage/table_writer.h"
#include "arrowport/storage/type_mapping.h"

namespace arrowport::ingest {

namespace {

using storage::ColumnInfo;

// Applies the write mode to the target and returns its columns (nullopt: must be created).
arrow::Result<std::optional<std::vector<ColumnInfo>>> PrepareTarget(
    storage::Connection* conn, const std::string& table, WriteMode mode) {
  ARROW_ASSIGN_OR_RAISE(auto existing, conn->DescribeRelation(table));
  if (existing && mode == WriteMode::kCreate) {
    return arrow::Status::AlreadyExists("table ", table, " already exists (mode=create)");
  }
  if (existing && mode == WriteMode::kReplace) {
    ARROW_RETURN_NOT_OK(storage::DropTable(conn, table));
    existing.reset();
  }
  return existing;
}

// Creates or evolves the table for `incoming` and returns the INSERT plan.
arrow::Result<ColumnPlan> EnsureTable(storage::Connection* conn, const std::string& table,
                                      std::optional<std::vector<ColumnInfo>> existing,
                                      const std::vector<ColumnInfo>& incoming,
                                      config::SchemaPolicy policy, bool* created) {
  if (!existing) {
    ARROW_RETURN_NOT_OK(storage::CreateTable(conn, table, incoming));
    *created = true;
    existing = incoming;
  }
  ARROW_ASSIGN_OR_RAISE(auto plan, PlanColumns(table, incoming, *existing, policy));
  for (const auto& column : plan.added) {
    ARROW_RETURN_NOT_OK(storage::AddColumn(conn, table, column));
  }
  return plan;
}

// Table DDL locks kept at most; unused ones are dropped beyond this.
constexpr size_t kMaxTableLocks = 1024;

// Batches validated ahead of DuckDB per request: bounds memory per request while keeping
// the network busy when DuckDB briefly stalls (row-group flushes).
constexpr size_t kPrefetchDepth = 4;

// Requests up to this many rows, to a known table they fit exactly, skip SQL planning:
// DuckDB's appender writes them in one flush (well below its 204,800-row flush size).
constexpr int64_t kSmallRequestRows = 16384;

// The idempotency log row for `key`, with the counts of `result`.
arrow::Result<storage::TableAppend> RequestRecord(const std::string& key,
                                                  const IngestResult& result) {
  return storage::RequestLog::Record(key, result.stream, result.table, result.rows,
                                     result.batches);
}

// Appends `batches` to `table` through `targets` without SQL and, when `key` is set,
// the key's log row (counts from `logged`) in the same transaction. The log's primary key
// makes a retry fail: its counts as first committed are returned (nullopt: appended now).
arrow::Result<std::optional<storage::LoggedCounts>> AppendSmall(
    storage::Connection* conn, const std::string& table, const AppendTargets& targets,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, const std::string& key,
    const IngestResult& logged) {
  std::vector<storage::TableAppend> appends(1);
  appends[0].table = table;
  appends[0].columns = targets.names;
  ARROW_ASSIGN_OR_RAISE(appends[0].batches, Project(batches, targets));
  if (!key.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto record, RequestRecord(key, logged));
    appends.push_back(std::move(record));
  }
  auto appended = conn->AppendAtomically(appends);
  if (appended.ok()) return std::nullopt;
  if (!key.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto prior, storage::RequestLog::Lookup(conn, key));
    if (prior) return prior;
  }
  return appended;
}

}  // namespace

bool IsSchemaMismatch(const arrow::Status& status) {
  return HasErrorKind(status, ErrorKind::kSchemaMismatch);
}

IngestPipeline::IngestPipeline(storage::Database* database, StreamRouter* router,
                               int64_t max_batch_bytes)
    : database_(database), router_(router), max_batch_bytes_(max_batch_bytes) {}

std::shared_ptr<std::mutex> IngestPipeline::TableLock(const std::string& table) {
  std::lock_guard<std::mutex> lock(locks_mutex_);
  if (table_locks_.size() >= kMaxTableLocks) {
    // Only locks nobody holds or waits for can go (the map holds the one reference).
    for (auto it = table_locks_.begin(); it != table_locks_.end();) {
      it = it->second.use_count() == 1 ? table_locks_.erase(it) : std::next(it);
    }
  }
  auto& entry = table_locks_[ColumnKey(table)];
  if (!entry) entry = std::make_shared<std::mutex>();
  return entry;
}

arrow::Result<IngestResult> IngestPipeline::Ingest(
    const IngestRequest& request, std::shared_ptr<arrow::RecordBatchReader> source,
    const BatchCommitted& on_commit, const CallContext& call) {
  const auto start = std::chrono::steady_clock::now();
  const config::StreamConfig route = router_->Route(request.stream);
  IngestResult result;
  result.stream = request.stream;
  result.table = request.table.empty() ? route.target_table : request.table;
  const auto commit = request.commit.value_or(route.commit);
  // Receive and decode (the caller's reader) and full validation run ahead of DuckDB on
  // a thread of their own, a few batches deep: both cores work, memory stays bounded.
  source = MakePrefetchingReader(MakeValidatingReader(std::move(source), max_batch_bytes_),
                                 kPrefetchDepth);
  auto schema = source->schema();

  auto run = [&]() -> arrow::Status {
    ARROW_RETURN_NOT_OK(ValidateName("stream", request.stream));
    ARROW_RETURN_NOT_OK(ValidateName("table", result.table));
    ARROW_RETURN_NOT_OK(storage::CheckIngestSchema(*schema, /*creating=*/false));
    ARROW_ASSIGN_OR_RAISE(auto conn, database_->Connect());
    auto interrupt = conn->InterruptOn(call.cancellation);
    const bool idempotent = !request.request_id.empty();
    if (idempotent) {
      ARROW_RETURN_NOT_OK(ValidateRequestId(request.request_id));
      ARROW_RETURN_NOT_OK(request_log_.Ensure(conn.get()));
    }

    // Takes the table's DDL lock when the write needs DDL, then opens the transaction.
    // Concurrent first writers of a table thus create it one after the other instead of
    // conflicting; plain appends never wait for each other. The stream is registered
    // before (outside the write transaction).
    std::unique_lock<std::mutex> ddl;
    auto open = [&](const std::string& relation,
                    const std::vector<ColumnInfo>& incoming) -> arrow::Status {
      auto current = conn->DescribeRelation(result.table);
      if (!current.ok() || NeedsDdl(*current, incoming, request.mode, route.schema_policy)) {
        ddl = std::unique_lock<std::mutex>(*TableLock(result.table));
      }
      auto begun = conn->Begin();
      if (!begun.ok()) conn->DropArrowStream(relation);
      return begun;
    };
    // DuckDB's mapping of this Arrow schema: cached, or read from the registered view.
    const std::string mapping_key = schema->ToString();
    auto register_stream = [&](std::shared_ptr<arrow::RecordBatchReader> reader,
                               std::vector<ColumnInfo>* incoming) -> arrow::Result<std::string> {
      auto cached = cache_.Mapping(mapping_key);
      ARROW_ASSIGN_OR_RAISE(auto relation,
                            conn->RegisterArrowStream(std::move(reader), cached ? nullptr : incoming));
      if (cached) {
        *incoming = std::move(*cached);
      } else {
        cache_.StoreMapping(mapping_key, *incoming);
      }
      return relation;
    };

    if (commit == config::CommitMode::kPerRequest) {
      // Small requests: read a little ahead; a whole request that is small and fits the
      // (cached) table exactly is appended without SQL, with its idempotency record, in
      // one transaction.
      std::vector<std::shared_ptr<arrow::RecordBatch>> ahead;
      if (request.mode == WriteMode::kAppend) {
        auto known = cache_.Table(conn.get(), result.table);
        auto mapping = cache_.Mapping(mapping_key);
        auto targets = known && mapping ? ExactTargets(*mapping, *known, route.schema_policy)
                                        : std::nullopt;
        if (targets) {
          int64_t rows = 0, bytes = 0;
          bool ended = false;
          while (rows <= kSmallRequestRows) {
            std::shared_ptr<arrow::RecordBatch> batch;
            ARROW_RETURN_NOT_OK(source->ReadNext(&batch));
            if (!batch) {
              ended = true;
              break;
            }
            rows += batch->num_rows();
            bytes += arrow::util::TotalBufferSize(*batch);
            ahead.push_back(std::move(batch));
          }
          if (ended) {
            result.rows = rows;
            result.batches = static_cast<int64_t>(ahead.size());
            result.bytes = bytes;
            auto appended = AppendSmall(conn.get(), result.table, *targets, ahead,
                                        request.request_id, result);
            if (appended.ok() && !*appended) return arrow::Status::OK();
            if (appended.ok()) {  // a retry: answered with the counts first committed
              result.duplicate = true;
              result.rows = (*appended)->rows;
              result.batches = (*appended)->batches;
              result.bytes = 0;
              return arrow::Status::OK();
            }
            // Nothing was written. The cached table may be stale (altered or dropped
            // elsewhere): the general path below re-reads it and reports in its terms.
            result.rows = result.batches = result.bytes = 0;
            cache_.ForgetTable(result.table);
          }
        }
      }
      auto input = ahead.empty()
                       ? source
                       : std::make_shared<ReplayReader>(std::move(ahead), source);
      // One statement scans the whole request as it arrives; one transaction commits it.
      auto counting = std::make_shared<CountingReader>(input);
      std::vector<ColumnInfo> incoming;
      ARROW_ASSIGN_OR_RAISE(auto relation, register_stream(counting, &incoming));
      auto finish = [&]() {
        result.rows = counting->rows();
        result.batches = counting->batches();
        result.bytes = counting->bytes();
      };

      // Fast path: a plain append to a table whose (cached) columns already fit is one
      // INSERT in autocommit, which is atomic on its own.
      if (request.mode == WriteMode::kAppend && !idempotent) {
        auto known = cache_.Table(conn.get(), result.table);
        if (known && !NeedsDdl(known, incoming, request.mode, route.schema_policy)) {
          auto plan = PlanColumns(result.table, incoming, *known, route.schema_policy);
          if (plan.ok() && plan->added.empty()) {
            auto inserted = storage::InsertFrom(conn.get(), result.table, relation, plan->targets, plan->sources);
            conn->DropArrowStream(relation);
            if (!inserted.ok()) {
              cache_.ForgetTable(result.table);
              return inserted.status();
            }
            finish();
            return arrow::Status::OK();
          }
          // The cached columns do not fit: decide on fresh ones below.
        }
      }

      ARROW_RETURN_NOT_OK(open(relation, incoming));
      bool duplicate = false;
      auto st = [&]() -> arrow::Status {
        if (idempotent) {
          ARROW_ASSIGN_OR_RAISE(auto prior, storage::RequestLog::Lookup(conn.get(), request.request_id));
          if (prior) {
            duplicate = true;
            result.rows = prior->rows;
            result.batches = prior->batches;
            return arrow::Status::OK();
          }
        }
        ARROW_ASSIGN_OR_RAISE(auto existing,
                              PrepareTarget(conn.get(), result.table, request.mode));
        ARROW_ASSIGN_OR_RAISE(auto plan, EnsureTable(conn.get(), result.table, existing,
                                                     incoming, route.schema_policy,
                                                     &result.created));
        ARROW_RETURN_NOT_OK(storage::InsertFrom(conn.get(), result.table, relation, plan.targets, plan.sources));
        finish();
        if (idempotent) {
          ARROW_ASSIGN_OR_RAISE(auto record, RequestRecord(request.request_id, result));
          ARROW_RETURN_NOT_OK(conn->AppendAtomically({record}));
        }
        return conn->Commit();
      }();
      if (!st.ok() || duplicate) conn->Rollback();
      conn->DropArrowStream(relation);
      if (ddl.owns_lock()) ddl.unlock();
      // Whatever happened, the next request starts from the table as it now is.
      auto now = conn->DescribeRelation(result.table);
      cache_.StoreTable(conn.get(), result.table, now.ok() ? *now : std::nullopt);
      ARROW_RETURN_NOT_OK(st);
      if (duplicate) {
        result.duplicate = true;
        return Drain(input.get());  // the retried body is read and discarded
      }
      return arrow::Status::OK();
    }

    // per_batch: table set-up commits first, then every batch is its own transaction.
    std::vector<ColumnInfo> incoming;
    ColumnPlan plan;
    std::optional<AppendTargets> exact;  // set when batches can skip SQL (AppendAtomically)
    auto set_up = [&]() -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(auto empty, arrow::RecordBatchReader::Make({}, schema));
      ARROW_ASSIGN_OR_RAISE(auto relation, register_stream(empty, &incoming));
      ARROW_RETURN_NOT_OK(open(relation, incoming));
      auto st = [&]() -> arrow::Status {
        ARROW_ASSIGN_OR_RAISE(auto existing,
                              PrepareTarget(conn.get(), result.table, request.mode));
        ARROW_ASSIGN_OR_RAISE(plan, EnsureTable(conn.get(), result.table, existing,
                                                incoming, route.schema_policy,
                                                &result.created));
        return conn->Commit();
      }();
      if (!st.ok()) conn->Rollback();
      conn->DropArrowStream(relation);
      if (ddl.owns_lock()) ddl.unlock();
      auto now = conn->DescribeRelation(result.table);
      cache_.StoreTable(conn.get(), result.table, now.ok() ? *now : std::nullopt);
      ARROW_RETURN_NOT_OK(st);
      exact = now.ok() && *now ? ExactTargets(incoming, **now, route.schema_policy) : std::nullopt;
      return arrow::Status::OK();
    };
    // Appending to a known table that needs no DDL: the set-up transaction is skipped, and
    // redone only if a batch fails on a stale view of the table.
    bool set_up_from_cache = false;
    if (request.mode == WriteMode::kAppend) {
      auto known = cache_.Table(conn.get(), result.table);
      auto mapping = cache_.Mapping(mapping_key);
      if (known && mapping && !NeedsDdl(known, *mapping, request.mode, route.schema_policy)) {
        auto planned = PlanColumns(result.table, *mapping, *known, route.schema_policy);
        if (planned.ok() && planned->added.empty()) {
          incoming = *mapping;
          plan = std::move(*planned);
          exact = ExactTargets(incoming, *known, route.schema_policy);
          set_up_from_cache = true;
        }
      }
    }
    // The first batch is received (and validated) before the table is set up, so a
    // request whose very first batch is refused creates nothing.
    std::shared_ptr<arrow::RecordBatch> first;
    {
      auto read = source->ReadNext(&first);
      if (!read.ok()) return read.WithMessage("after 0 committed batch(es): ", read.message());
    }
    if (!set_up_from_cache) ARROW_RETURN_NOT_OK(set_up());
    // Commits one batch as its own transaction.
    auto commit_batch = [&](const std::shared_ptr<arrow::RecordBatch>& batch) -> arrow::Status {
      // With a request id, each batch is logged as "<request_id> batch <index>" with its own
      // counts. Client ids cannot contain spaces, so no client id equals a batch's key.
      const std::string key =
          idempotent ? request.request_id + " batch " + std::to_string(result.batches) : "";
      IngestResult one_batch = result;
      one_batch.rows = batch->num_rows();
      one_batch.batches = 1;
      if (exact && batch->num_rows() <= kSmallRequestRows) {
        // Without planning SQL; a batch committed by an earlier attempt is skipped.
        auto appended = AppendSmall(conn.get(), result.table, *exact, {batch}, key, one_batch);
        if (!appended.ok()) cache_.ForgetTable(result.table);
        return appended.status();
      }
      ARROW_ASSIGN_OR_RAISE(auto one, arrow::RecordBatchReader::Make({batch}, schema));
      ARROW_ASSIGN_OR_RAISE(auto relation, conn->RegisterArrowStream(one, nullptr));
      bool seen = false;
      auto st = conn->Begin();
      if (st.ok() && idempotent) {
        auto prior = storage::RequestLog::Lookup(conn.get(), key);
        st = prior.status();
        seen = prior.ok() && prior->has_value();
      }
      if (st.ok() && !seen) st = storage::InsertFrom(conn.get(), result.table, relation, plan.targets, plan.sources).status();
      if (st.ok() && !seen && idempotent) {
        auto record = RequestRecord(key, one_batch);
        st = record.ok() ? conn->AppendAtomically({*record}) : record.status();
      }
      if (st.ok()) st = conn->Commit();
      if (!st.ok()) conn->Rollback();
      conn->DropArrowStream(relation);
      return st;
    };
    for (;;) {
      std::shared_ptr<arrow::RecordBatch> batch = std::move(first);
      auto read = batch ? arrow::Status::OK() : source->ReadNext(&batch);
      if (!read.ok()) {
        return read.WithMessage("after ", result.batches, " committed batch(es): ",
                                read.message());
      }
      if (!batch) break;
      auto st = commit_batch(batch);
      if (!st.ok() && set_up_from_cache) {
        // The cached table may be stale: set up from the database, then retry the batch.
        set_up_from_cache = false;
        auto set = set_up();
        if (!set.ok()) {
          return set.WithMessage("batch ", result.batches, " (after ", result.batches,
                                 " committed): ", set.message());
        }
        st = commit_batch(batch);
      }
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
  if (!st.ok() && call.cancellation && call.cancellation->cancelled()) {
    st = call.cancellation->reason();
  }
  if (!st.ok()) {
    router_->RecordError(request.stream, IsSchemaMismatch(st));
    return st.WithMessage("stream '", request.stream, "' -> table ", result.table, ": ",
                          st.message());
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result.duplicate) {
    router_->RecordSuccess(request.stream, result.rows, result.batches, result.bytes);
  }
  return result;
}

}  // namespace arrowport::ingest
