#include "arrowport/storage/results/result_batch_reader.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>

#include "arrow/array/concatenate.h"
#include "arrow/type.h"
#include "arrow/util/byte_size.h"
#include "arrow/c/bridge.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/common/prefetching_reader.h"
#include "arrowport/common/sized_batches.h"
#include "arrowport/storage/memory/allocation_guard.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/results/query_progress.h"
#include "arrowport/storage/results/result_pieces.h"
#include "arrowport/storage/results/result_sources.h"
#include "arrowport/storage/results/statement_binding.h"

namespace arrowport::storage {

namespace {

// Largest result batch: pieces are glued up to it and sliced down to about it (only a
// single row may be larger).
constexpr int64_t kMaxBatchBytes = int64_t{8} << 20;
// What the result batches in flight are charged as.
constexpr const char* kBatchesCharge = "a query's result batches";
// Result batches of one query charged to the server's budget at once: a prefetching
// reader's queue (2) or DuckDB's streaming buffer, the batch being sent and the next.
constexpr size_t kChargedBatches = 4;
// Chunks an interactive result converts ahead of its consumer (2,048 rows each).
constexpr size_t kInteractiveDepth = 16;

// The transaction of a write whose rows stream back (INSERT ... RETURNING, or DML in a
// SELECT's WITH) outside any other: DuckDB commits an autocommit statement when its result
// is dropped, read to its end or not, so a client that left mid-stream still had its write
// committed. Committed when the last row is read; rolled back if the reader goes first.
class WriteTransaction {
 public:
  static arrow::Result<std::unique_ptr<WriteTransaction>> Begin(duckdb_connection conn) {
    ARROW_RETURN_NOT_OK(RunTransactionStep(conn, TransactionStep::kBegin));
    return std::unique_ptr<WriteTransaction>(new WriteTransaction(conn));
  }
  arrow::Status Commit() {
    ended_ = true;
    AllocationGuard::CommitScope committing;  // a commit is never refused memory midway
    // Committed, and only the automatic checkpoint after it failed: the rows are in.
    return UnlessCommitted(RunTransactionStep(conn_, TransactionStep::kCommit));
  }
  ~WriteTransaction() {
    if (ended_) return;
    (void)RunTransactionStep(conn_, TransactionStep::kRollback);
  }

 private:
  explicit WriteTransaction(duckdb_connection conn) : conn_(conn) {}
  duckdb_connection conn_;
  bool ended_ = false;
};

// Streams a DuckDB result as Arrow record batches of about `batch_rows` rows and at most
// kMaxBatchBytes: the source's pieces as they come, or, when they are DuckDB's small
// (2048-row) chunks, glued together so network writers see sensible batches; a piece
// of multi-MB values in slices (ResultPieces).
class ResultBatchReader : public arrow::RecordBatchReader, public SizedBatches {
 public:
  ResultBatchReader(std::shared_ptr<void> owner, std::shared_ptr<void> keep_alive,
                    duckdb_connection conn, std::unique_ptr<ResultSource> source,
                    int64_t batch_rows, std::shared_ptr<CallCancellation> cancellation,
                    CallCancellation::Subscription interrupt,
                    std::shared_ptr<MemoryBudget> memory, bool stop_between_chunks,
                    MemoryBudget::Reservation workers,
                    std::unique_ptr<WriteTransaction> write,
                    std::shared_ptr<void> progress)
      : owner_(std::move(owner)),
        keep_alive_(std::move(keep_alive)),
        conn_(conn),
        write_(std::move(write)),
        source_(std::move(source)),
        workers_(std::move(workers)),
        schema_(source_->schema()),
        converted_by_workers_(!source_->pieces_are_chunks()),
        // Chunks are glued up to a batch; DuckDB's units only when small (a selective
        // query's units end at each row group), never past half the byte cap.
        glue_rows_(source_->pieces_are_chunks() ? batch_rows : std::max<int64_t>(1, batch_rows / 4)),
        glue_bytes_(source_->pieces_are_chunks() ? kMaxBatchBytes : kMaxBatchBytes / 2),
        cancellation_(std::move(cancellation)),
        interrupt_(std::move(interrupt)),
        progress_(std::move(progress)),
        charges_(std::move(memory), kChargedBatches),
        stop_between_chunks_(stop_between_chunks) {
    // From here on the query only produces rows: in a transaction, a cancellation asks
    // the reader to stop at the next chunk (Interrupt() escalates if that one is stuck).
    if (stop_between_chunks_ && cancellation_) {
      interrupt_ = CallCancellation::OnCancel(cancellation_, [this] { Interrupt(); });
    }
  }

  // The subscription goes first: its interrupt reads the members below. A write's
  // transaction ends after its result (rolled back when not read to its end).
  ~ResultBatchReader() override {
    interrupt_.Reset();
    source_.reset();
    write_.reset();
  }

  bool converted_by_workers() const { return converted_by_workers_; }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  /// Stops a running query from another thread (used when a consumer goes away). In a
  /// transaction the first call only asks ReadNext to stop at the next chunk; a call
  /// kStuckAfter later interrupts DuckDB (and so aborts the transaction).
  void Interrupt() {
    if (!owner_ && !keep_alive_) return;
    if (!stop_between_chunks_) {
      duckdb_interrupt(conn_);
      return;
    }
    const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    int64_t asked = 0;
    if (stop_asked_at_.compare_exchange_strong(asked, now)) return;
    if (std::chrono::steady_clock::duration(now - asked) >= CallCancellation::kStuckAfter) {
      duckdb_interrupt(conn_);
    }
  }

  int64_t last_batch_bytes() const override { return last_batch_bytes_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    last_batch_bytes_ = -1;
    if (commit_when_asked_) {
      // Asked past the last row: the consumer took the write's rows (an HTTP answer
      // judges its first batch before its status line: refused, the reader goes, and
      // the write is rolled back with it).
      commit_when_asked_ = false;
      source_.reset();
      return write_->Commit();
    }
    if (done_) return arrow::Status::OK();
    std::vector<std::shared_ptr<arrow::RecordBatch>> pieces;
    int64_t rows = 0;
    int64_t bytes = 0;
    // A batch ends at batch_rows or kMaxBatchBytes, whichever comes first: wide rows
    // (10 KB strings) would otherwise make 1 GB batches, held per stream until read, and
    // a client's message limit (ADBC's is 16 MiB) refuses a batch it cannot take.
    while (rows < glue_rows_ && bytes < glue_bytes_) {
      if (stop_asked_at_.load() != 0) {
        done_ = true;
        if (cancellation_ && cancellation_->cancelled()) return cancellation_->reason();
        return arrow::Status::Cancelled("the result was closed before its end");
      }
      auto next = pieces_.Next();
      if (!next.ok()) {
        done_ = true;
        if (cancellation_ && cancellation_->cancelled()) return cancellation_->reason();
        return next.status();
      }
      ResultPieces::Piece piece = next.MoveValueUnsafe();
      if (piece.batch == nullptr) {
        done_ = true;
        if (write_ && pieces.empty()) {
          source_.reset();  // the result ends before its transaction commits
          ARROW_RETURN_NOT_OK(write_->Commit());
        }
        commit_when_asked_ = write_ != nullptr && !pieces.empty();
        break;
      }
      // A slice goes out alone (glued, it would be copied); nothing goes past the cap.
      const bool too_large = bytes + piece.bytes > kMaxBatchBytes;
      if (!pieces.empty() && (piece.whole_bytes > 0 || too_large)) {
        pieces_.PutBack(std::move(piece));
        break;
      }
      if (piece.whole_bytes > 0) return SendSlice(std::move(piece), out);
      rows += piece.batch->num_rows();
      bytes += piece.bytes;
      pieces.push_back(std::move(piece.batch));
    }
    if (pieces.empty()) return arrow::Status::OK();
    // Batches queued for the client draw from the server's budget (waiting briefly when
    // it is spent: a slow consumer then slows its producer instead of growing memory).
    ARROW_RETURN_NOT_OK(charges_.Add(bytes, kBatchesCharge, cancellation_));
    if (pieces.size() == 1) {
      *out = std::move(pieces[0]);
      last_batch_bytes_ = bytes;
      return arrow::Status::OK();
    }
    std::vector<std::shared_ptr<arrow::Array>> columns;
    columns.reserve(schema_->num_fields());
    for (int i = 0; i < schema_->num_fields(); ++i) {
      arrow::ArrayVector parts;
      parts.reserve(pieces.size());
      for (const auto& piece : pieces) parts.push_back(piece->column(i));
      ARROW_ASSIGN_OR_RAISE(auto column, arrow::Concatenate(parts));
      columns.push_back(std::move(column));
    }
    *out = arrow::RecordBatch::Make(schema_, rows, std::move(columns));
    return arrow::Status::OK();
  }

  arrow::Status Close() override {
    done_ = true;
    return arrow::Status::OK();
  }

 private:
  // A slice of a wide piece as one batch. The piece lives until its last slice is
  // released: it is charged whole from its first slice on, and with its last slice
  // enters the window of batches in flight.
  arrow::Status SendSlice(ResultPieces::Piece piece,
                          std::shared_ptr<arrow::RecordBatch>* out) {
    if (piece.first_slice && charges_.charging()) {
      auto charge =
          charges_.budget()->Reserve(piece.whole_bytes, kBatchesCharge, cancellation_);
      if (!charge.ok()) {
        done_ = true;
        return charge.status();
      }
      wide_charge_ = std::move(*charge);
    }
    if (piece.last_slice) {
      charges_.Keep(std::move(wide_charge_));
    } else {
      ARROW_RETURN_NOT_OK(charges_.Add(0, kBatchesCharge, cancellation_));
    }
    last_batch_bytes_ = piece.bytes;
    *out = std::move(piece.batch);
    return arrow::Status::OK();
  }

  std::shared_ptr<void> owner_;  // may be null when the caller keeps the connection
  std::shared_ptr<void> keep_alive_;   // what a prepared statement's result reads from
  duckdb_connection conn_;
  std::unique_ptr<WriteTransaction> write_;  // see WriteTransaction; null for the rest
  // The write's last rows went out in the batch that met its end: it commits when the
  // consumer asks past them.
  bool commit_when_asked_ = false;
  // Declared after what it reads from: destroyed (its query ended) before them.
  std::unique_ptr<ResultSource> source_;
  // What DuckDB's workers hold while they convert (their units under construction and
  // those waiting for room), charged to the server's budget for the query's life.
  MemoryBudget::Reservation workers_;
  std::shared_ptr<arrow::Schema> schema_;
  const bool converted_by_workers_;
  const int64_t glue_rows_;   // pieces are glued into one batch until it has this many rows
  const int64_t glue_bytes_;  // or this many bytes
  std::shared_ptr<CallCancellation> cancellation_;
  int64_t last_batch_bytes_ = -1;  // of the batch ReadNext returned last (SizedBatches)
  // Declared after owner_: unsubscribed before the connection it interrupts is closed.
  CallCancellation::Subscription interrupt_;
  std::shared_ptr<void> progress_;  // ReportQueryProgress's, also ended before owner_
  ChargeWindow charges_;
  const bool stop_between_chunks_;
  std::atomic<int64_t> stop_asked_at_{0};  // steady_clock ticks of the first stop request
  bool done_ = false;
  ResultPieces pieces_{source_.get(), kMaxBatchBytes};  // declared after source_
  MemoryBudget::Reservation wide_charge_;  // the wide piece being sent in slices
};

// Whether DuckDB's workers convert the result to Arrow in parallel (a unit source), with
// `*threads` their number and `*workers` what their units are charged as.
bool ConvertsInUnits(duckdb_connection conn, duckdb_prepared_statement prepared,
                     const QueryOptions& options, bool select_at_run, int* threads,
                     MemoryBudget::Reservation* workers) {
  // DuckDB's workers convert to Arrow in parallel. The chunk source stays for a
  // transform's interactive exchange (each chunk handed over as soon as it is made) and
  // inside a client's open transaction: there a closed result must stop between chunks
  // (2,048 rows), not wait out a unit of DuckDB's workers and then interrupt DuckDB, which
  // would abort the transaction.
  bool units = options.parallel_conversion && !options.interactive &&
               !options.in_open_transaction && (select_at_run || StreamsArrowUnits(prepared));
  if (units) *threads = DuckDBThreads(conn);
  if (units && options.result_memory) {
    // Each worker holds a unit under construction and one waiting for buffer room. The
    // workers are shared by all queries, so this over-counts when several run at once
    // (the endpoints of one parallel read): without room, the query converts chunk by
    // chunk on its own thread instead of waiting for it. Half the budget stays for the
    // batches in flight: conversions that took all of it left the streams (theirs and
    // others') none, and a client reading its endpoints one by one got "busy".
    auto reserved = options.result_memory->TryReserve(
        int64_t{2} * *threads * kMaxBatchBytes, "a query's result conversion",
        options.result_memory->capacity() / 2);
    if (reserved.ok()) {
      *workers = std::move(*reserved);
    } else {
      units = false;
    }
  }
  return units;
}

// Starts the statement: a unit source (DuckDB's workers convert), else DuckDB's streaming
// result read chunk by chunk. `planned` ends the replanning scope's hold on the plan.
arrow::Result<std::unique_ptr<ResultSource>> StartSource(
    duckdb_prepared_statement prepared, std::shared_ptr<void> statement_owner,
    const QueryOptions& options, bool units, int threads,
    const std::function<void()>& planned) {
  std::unique_ptr<ResultSource> source;
  if (units) {
    auto started = ArrowUnitSource(prepared, std::move(statement_owner), options.batch_rows,
                                   kMaxBatchBytes, threads > 1);
    planned();
    if (!started.ok()) {
      if (options.cancellation && options.cancellation->cancelled()) {
        return options.cancellation->reason();
      }
      return started.status();
    }
    source = started.MoveValueUnsafe();
  } else {
    PendingHandle pending;
    const bool pended =
        duckdb_pending_prepared_streaming(prepared, pending.out()) != DuckDBError;
    planned();  // executing may append (a client's DML): never in the scope
    if (!pended) {
      const char* error = duckdb_pending_error(pending.get());
      return TranslateDuckDBError(-1, error ? error : "cannot start query");
    }
    ResultHandle result;
    if (duckdb_execute_pending(pending.get(), result.out()) == DuckDBError) {
      if (options.cancellation && options.cancellation->cancelled()) {
        return options.cancellation->reason();
      }
      return ResultError(result.ptr());
    }
    ARROW_ASSIGN_OR_RAISE(source, ChunkSource(std::move(result)));
  }
  return source;
}

// Executes a prepared, bound statement and wraps its streaming result. `statement_owner`
// (may be null) owns `prepared` when nothing else keeps it for the result's life.
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> RunPrepared(
    duckdb_connection conn, duckdb_prepared_statement prepared,
    std::shared_ptr<void> owner, std::shared_ptr<void> keep_alive,
    std::shared_ptr<void> statement_owner, const QueryOptions& options, Planning planning) {
  // A SELECT planned as it runs was bound to check that it changes nothing and returns
  // rows: what the prepared statement's properties tell of one that was planned.
  const bool select_at_run = planning != Planning::kPrepared;
  // Subscribed before execution starts: an aggregate can run long before its first row.
  CallCancellation::Subscription interrupt = InterruptOnCancel(conn, options.cancellation);
  if (options.cancellation && options.cancellation->cancelled()) {
    return options.cancellation->reason();
  }
  // Only where DuckDB's C++ API tells whether a transaction is open (parallel_conversion)
  // and the result owns or holds its connection for its whole life.
  std::unique_ptr<WriteTransaction> write;
  if ((owner != nullptr || keep_alive != nullptr) && options.parallel_conversion &&
      !options.in_open_transaction && !select_at_run && ChangesData(prepared) &&
      !InTransaction(conn)) {
    ARROW_ASSIGN_OR_RAISE(write, WriteTransaction::Begin(conn));
  }
  int threads = 1;
  MemoryBudget::Reservation workers;
  const bool units =
      ConvertsInUnits(conn, prepared, options, select_at_run, &threads, &workers);
  // A client's statement is planned again as it starts (DuckDB 2.0 rebinds one that reads
  // a table; a SELECT left to be planned at run is planned only now): held to the budget
  // like its prepare (AllocationGuard::PlanningScope). Starting runs no append. A kept
  // plan is run as it is (TableReadPlans): nothing is planned.
  std::optional<AllocationGuard::PlanningScope> replanning;
  if (options.principal && planning != Planning::kKeptTablePlan) replanning.emplace();
  auto planned = [&] {
    if (replanning) replanning->KeepFor(prepared);
  };
  // Off while DuckDB plans it, on again once it started: its workers run the plan made,
  // and read no optimizer setting (only the planner does). A kept plan runs through an
  // EXECUTE that DuckDB plans too, and would optimize (a tenth of a 1,000-row read's CPU,
  // for a plan with nothing to optimize).
  std::optional<OptimizerOff> unoptimized;
  if (planning == Planning::kTableAtRun || planning == Planning::kKeptTablePlan ||
      options.unoptimized) {
    unoptimized.emplace(conn);
  }
  auto progress =
      ReportQueryProgress(conn, options.progress, options.parallel_conversion);
  // A copy: the statement stays owned here until the reader exists, on either path.
  ARROW_ASSIGN_OR_RAISE(auto source, StartSource(prepared, statement_owner, options, units,
                                                 threads, planned));
  unoptimized.reset();
  // A unit source needs no thread of ours when DuckDB has workers: they convert ahead into
  // the streaming buffer (a thread of ours in between cost a third more CPU per read).
  // With one DuckDB thread the result is made only when read: our thread reads ahead.
  // A write's result is not read ahead: its transaction commits when the consumer asks
  // past the last row, so after the rows before it went to the client's transport.
  const bool prefetch = write == nullptr && options.prefetch &&
                        (owner != nullptr || keep_alive != nullptr) &&
                        (source->pieces_are_chunks() || threads == 1);
  auto reader = std::make_shared<ResultBatchReader>(
      std::move(owner), std::move(keep_alive), conn, std::move(source),
      // Interactive: one chunk per batch, glued below only to chunks already made.
      options.interactive ? 1 : std::max<int64_t>(options.batch_rows, 1),
      options.cancellation, std::move(interrupt), options.result_memory,
      options.in_open_transaction, std::move(workers), std::move(write),
      std::move(progress));
  if (!prefetch) return reader;
  // DuckDB fetches and converts the next batches while the consumer sends this one.
  ResultBatchReader* raw = reader.get();
  if (options.interactive) {
    return MakePrefetchingReader(reader, kInteractiveDepth, [raw] { raw->Interrupt(); },
                                 {std::max<int64_t>(options.batch_rows, 1), kMaxBatchBytes});
  }
  return MakePrefetchingReader(reader, /*depth=*/2, [raw] { raw->Interrupt(); });
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> StartPrepared(
    duckdb_connection conn, duckdb_prepared_statement prepared,
    std::shared_ptr<void> keep_alive, const QueryOptions& options, Planning planning) {
  return RunPrepared(conn, prepared, nullptr, std::move(keep_alive), nullptr, options,
                     planning);
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> StartQuery(
    duckdb_connection conn, std::shared_ptr<void> owner, const std::string& sql,
    const QueryOptions& options) {
  auto prepared = std::make_shared<PreparedHandle>();
  {
    // Planning binds lake views, whose files' footers DuckDB's threads read from the
    // store. (Ended before `owner`, which may own the connection, can let it go.)
    auto planning = InterruptOnCancel(conn, options.cancellation);
    ARROW_RETURN_NOT_OK(PrepareAndBind(conn, sql, options.parameters, prepared.get()));
  }
  duckdb_prepared_statement statement = prepared->get();
  return RunPrepared(conn, statement, std::move(owner), nullptr, std::move(prepared), options,
                     Planning::kPrepared);
}

CallCancellation::Subscription InterruptOnCancel(
    duckdb_connection conn, const std::shared_ptr<CallCancellation>& cancellation) {
  if (!cancellation) return {};
  return CallCancellation::OnCancel(cancellation, [conn] { duckdb_interrupt(conn); });
}

bool ConvertedByDuckDBWorkers(const arrow::RecordBatchReader& reader) {
  const auto* result = dynamic_cast<const ResultBatchReader*>(&reader);
  return result != nullptr && result->converted_by_workers();
}

}  // namespace arrowport::storage
