#include "arrowport/common/prefetching_reader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "arrow/api.h"

namespace arrowport {
namespace prefetching_reader_test {

using namespace std::chrono_literals;

constexpr auto kSettle = 150ms;
constexpr auto kEventually = 10s;

std::shared_ptr<arrow::Schema> Schema() {
  return arrow::schema({arrow::field("x", arrow::int64())});
}

/// A scripted inner reader: batches holding 0, 1, 2, ... (one row each), then the end of
/// the stream or `error`. Optionally blocks on read number `block_at` until Interrupt().
/// Records how many reads happened and on which threads.
class ScriptedReader : public arrow::RecordBatchReader {
 public:
  ScriptedReader(int64_t batches, arrow::Status error = arrow::Status::OK(),
                 int64_t block_at = -1)
      : batches_(batches), error_(std::move(error)), block_at_(block_at) {}

  std::shared_ptr<arrow::Schema> schema() const override { return Schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    const int64_t index = reads_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      threads_.push_back(std::this_thread::get_id());
    }
    if (index == block_at_) {
      std::unique_lock<std::mutex> lock(mutex_);
      blocked_ = true;
      changed_.notify_all();
      changed_.wait(lock, [this] { return interrupted_; });
      *out = nullptr;
      return arrow::Status::Cancelled("interrupted");
    }
    if (index < batches_) {
      arrow::Int64Builder builder;
      ARROW_RETURN_NOT_OK(builder.Append(index));
      ARROW_ASSIGN_OR_RAISE(auto column, builder.Finish());
      *out = arrow::RecordBatch::Make(Schema(), 1, {column});
      return arrow::Status::OK();
    }
    *out = nullptr;
    return error_;
  }

  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }

  void Interrupt() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++interrupts_;
    interrupted_ = true;
    changed_.notify_all();
  }

  bool WaitUntilBlocked() {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kEventually, [this] { return blocked_; });
  }

  int64_t reads() const { return reads_.load(); }
  int interrupts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return interrupts_;
  }
  bool closed() const { return closed_.load(); }
  std::vector<std::thread::id> threads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_;
  }

 private:
  const int64_t batches_;
  const arrow::Status error_;
  const int64_t block_at_;
  std::atomic<int64_t> reads_{0};
  std::atomic<bool> closed_{false};
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread::id> threads_;
  bool blocked_ = false;
  bool interrupted_ = false;
  int interrupts_ = 0;
};

int64_t ValueOf(const arrow::RecordBatch& batch) {
  return std::static_pointer_cast<arrow::Int64Array>(batch.column(0))->Value(0);
}

/// Polls until `inner` has been read `n` times (the producer thread runs on its own).
bool WaitForReads(const ScriptedReader& inner, int64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + kEventually;
  while (inner.reads() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// Runs `fn` on its own thread and reports whether it returned within kEventually, so a
/// deadlock fails the test instead of hanging the suite (the stuck thread is abandoned).
bool FinishesInTime(std::function<void()> fn) {
  auto task = std::make_shared<std::packaged_task<void()>>(std::move(fn));
  auto done = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  return done.wait_for(kEventually) == std::future_status::ready;
}

TEST(PrefetchingReaderTest, DeliversEveryBatchInOrderThenTheEnd) {
  auto inner = std::make_shared<ScriptedReader>(200);
  auto reader = MakePrefetchingReader(inner, 3);
  EXPECT_TRUE(reader->schema()->Equals(*Schema()));
  for (int64_t i = 0; i < 200; ++i) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_TRUE(reader->ReadNext(&batch).ok());
    ASSERT_NE(batch, nullptr) << "batch " << i;
    EXPECT_EQ(ValueOf(*batch), i);
  }
  for (int i = 0; i < 2; ++i) {  // the end stays the end
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_TRUE(reader->ReadNext(&batch).ok());
    EXPECT_EQ(batch, nullptr);
  }
  ASSERT_TRUE(reader->Close().ok());
  EXPECT_TRUE(inner->closed());
}

TEST(PrefetchingReaderTest, TheFirstTwoReadsRunInlineThenAThreadReadsAhead) {
  auto inner = std::make_shared<ScriptedReader>(10);
  auto reader = MakePrefetchingReader(inner, 2);
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_TRUE(reader->ReadNext(&batch).ok());
  ASSERT_TRUE(reader->ReadNext(&batch).ok());
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(inner->reads(), 2) << "nothing may read ahead before the third ReadNext";
  ASSERT_TRUE(reader->ReadNext(&batch).ok());
  ASSERT_EQ(ValueOf(*batch), 2);
  auto threads = inner->threads();
  ASSERT_GE(threads.size(), 3u);
  EXPECT_EQ(threads[0], std::this_thread::get_id());
  EXPECT_EQ(threads[1], std::this_thread::get_id());
  EXPECT_NE(threads[2], std::this_thread::get_id());
}

TEST(PrefetchingReaderTest, AOneBatchStreamNeverStartsTheThread) {
  auto inner = std::make_shared<ScriptedReader>(1);
  int interrupts = 0;
  {
    auto reader = MakePrefetchingReader(inner, 4, [&] { ++interrupts; });
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_TRUE(reader->ReadNext(&batch).ok());
    ASSERT_NE(batch, nullptr);
    ASSERT_TRUE(reader->ReadNext(&batch).ok());
    EXPECT_EQ(batch, nullptr);
  }
  for (auto id : inner->threads()) EXPECT_EQ(id, std::this_thread::get_id());
  EXPECT_EQ(interrupts, 0);
}

TEST(PrefetchingReaderTest, ReadsAheadAtMostDepthBatches) {
  constexpr size_t kDepth = 3;
  auto inner = std::make_shared<ScriptedReader>(1000);
  auto reader = MakePrefetchingReader(inner, kDepth);
  std::shared_ptr<arrow::RecordBatch> batch;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->ReadNext(&batch).ok());
  // Consumed: 3. Queued: kDepth. Plus one the producer holds while it waits for room.
  const int64_t bound = 3 + kDepth + 1;
  ASSERT_TRUE(WaitForReads(*inner, bound));
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(inner->reads(), bound);
  // Each batch consumed lets exactly one more be read.
  ASSERT_TRUE(reader->ReadNext(&batch).ok());
  EXPECT_EQ(ValueOf(*batch), 3);
  ASSERT_TRUE(WaitForReads(*inner, bound + 1));
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(inner->reads(), bound + 1);
}

TEST(PrefetchingReaderTest, DepthZeroStillMakesProgress) {
  auto inner = std::make_shared<ScriptedReader>(20);
  auto reader = MakePrefetchingReader(inner, 0);
  auto table = reader->ToTable().ValueOrDie();
  EXPECT_EQ(table->num_rows(), 20);
}

TEST(PrefetchingReaderTest, AnErrorArrivesAfterTheGoodBatchesBeforeIt) {
  auto inner =
      std::make_shared<ScriptedReader>(6, arrow::Status::IOError("disk on fire"));
  auto reader = MakePrefetchingReader(inner, 2);
  std::shared_ptr<arrow::RecordBatch> batch;
  for (int64_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(reader->ReadNext(&batch).ok()) << "batch " << i;
    ASSERT_NE(batch, nullptr);
    EXPECT_EQ(ValueOf(*batch), i);
  }
  auto st = reader->ReadNext(&batch);
  EXPECT_TRUE(st.IsIOError());
  EXPECT_EQ(st.message(), "disk on fire");
  EXPECT_EQ(batch, nullptr);
  // The error is sticky rather than turning into a clean end of stream.
  EXPECT_TRUE(reader->ReadNext(&batch).IsIOError());
}

TEST(PrefetchingReaderTest, AnErrorDuringTheInlineReadsIsReturnedDirectly) {
  auto inner = std::make_shared<ScriptedReader>(1, arrow::Status::Invalid("bad batch"));
  auto reader = MakePrefetchingReader(inner, 2);
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_TRUE(reader->ReadNext(&batch).ok());
  EXPECT_TRUE(reader->ReadNext(&batch).IsInvalid());
}

TEST(PrefetchingReaderTest, EarlyCloseInterruptsABlockedInnerReadAndJoins) {
  // Read #4 (the producer's second) blocks like a long-running DuckDB query.
  auto inner = std::make_shared<ScriptedReader>(100, arrow::Status::OK(), /*block_at=*/3);
  auto reader = MakePrefetchingReader(inner, 4, [inner] { inner->Interrupt(); });
  std::shared_ptr<arrow::RecordBatch> batch;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->ReadNext(&batch).ok());
  ASSERT_TRUE(inner->WaitUntilBlocked());
  arrow::Status closed;
  ASSERT_TRUE(FinishesInTime([&] { closed = reader->Close(); }))
      << "Close() deadlocked on a producer blocked in the inner reader";
  EXPECT_TRUE(closed.ok());
  EXPECT_GE(inner->interrupts(), 1);
  EXPECT_TRUE(inner->closed());
}

TEST(PrefetchingReaderTest, DestroyingTheReaderEarlyInterruptsAndJoins) {
  auto inner = std::make_shared<ScriptedReader>(100, arrow::Status::OK(), /*block_at=*/3);
  auto reader = MakePrefetchingReader(inner, 4, [inner] { inner->Interrupt(); });
  std::shared_ptr<arrow::RecordBatch> batch;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->ReadNext(&batch).ok());
  ASSERT_TRUE(inner->WaitUntilBlocked());
  ASSERT_TRUE(FinishesInTime([&] { reader.reset(); }))
      << "the destructor deadlocked on a producer blocked in the inner reader";
  EXPECT_GE(inner->interrupts(), 1);
}

TEST(PrefetchingReaderTest, EarlyCloseRepeatsTheInterruptUntilTheInnerReadReturns) {
  // Like DuckDB: an interrupt that arrives just before a fetch starts is forgotten, and
  // a result in a transaction only stops at its next chunk when first asked. The read
  // blocked here gives up on the third interrupt only.
  auto inner = std::make_shared<ScriptedReader>(100, arrow::Status::OK(), /*block_at=*/3);
  std::atomic<int> asked{0};
  auto reader = MakePrefetchingReader(inner, 4, [inner, &asked] {
    if (++asked >= 3) inner->Interrupt();
  });
  std::shared_ptr<arrow::RecordBatch> batch;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->ReadNext(&batch).ok());
  ASSERT_TRUE(inner->WaitUntilBlocked());
  ASSERT_TRUE(FinishesInTime([&] { ASSERT_TRUE(reader->Close().ok()); }))
      << "Close() waited for good on a read the first interrupt did not end";
  EXPECT_EQ(asked.load(), 3);
}

TEST(PrefetchingReaderTest, EarlyCloseReleasesAProducerWaitingForRoom) {
  // The producer is not in the inner reader but waiting for queue space: no interrupt
  // needed to stop it, and Close() must not wait for the rest of the stream.
  auto inner = std::make_shared<ScriptedReader>(1000000);
  auto reader = MakePrefetchingReader(inner, 1, [inner] { inner->Interrupt(); });
  std::shared_ptr<arrow::RecordBatch> batch;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->ReadNext(&batch).ok());
  ASSERT_TRUE(WaitForReads(*inner, 3 + 1 + 1));
  ASSERT_TRUE(FinishesInTime([&] { ASSERT_TRUE(reader->Close().ok()); }));
  EXPECT_LT(inner->reads(), 10);
}

TEST(PrefetchingReaderTest, NoInterruptOnceTheStreamHasEnded) {
  auto inner = std::make_shared<ScriptedReader>(10);
  int interrupts = 0;
  auto reader = MakePrefetchingReader(inner, 2, [&] { ++interrupts; });
  ASSERT_EQ(reader->ToTable().ValueOrDie()->num_rows(), 10);
  ASSERT_TRUE(reader->Close().ok());
  reader.reset();
  EXPECT_EQ(interrupts, 0);
}

TEST(PrefetchingReaderTest, GlueJoinsWhatIsQueuedAndNeverWaitsForMore) {
  // Batches 0..5 come at once, then the inner read blocks (a client that waits for its
  // answer): the reads must return every queued batch, glued, without waiting.
  auto inner = std::make_shared<ScriptedReader>(1000, arrow::Status::OK(), /*block_at=*/6);
  auto reader = MakePrefetchingReader(inner, 16, [inner] { inner->Interrupt(); },
                                      GlueLimits{/*rows=*/4, /*bytes=*/1 << 20});
  std::vector<int64_t> values;
  auto read = [&]() -> int64_t {
    std::shared_ptr<arrow::RecordBatch> batch;
    EXPECT_TRUE(reader->ReadNext(&batch).ok());
    if (batch == nullptr) return 0;
    auto column = std::static_pointer_cast<arrow::Int64Array>(batch->column(0));
    for (int64_t i = 0; i < column->length(); ++i) values.push_back(column->Value(i));
    return batch->num_rows();
  };
  std::vector<int64_t> glued;
  ASSERT_TRUE(FinishesInTime([&] {
    EXPECT_EQ(read(), 1);  // the two inline reads
    EXPECT_EQ(read(), 1);
    glued.push_back(read());  // starts the thread: what is queued by then, glued
    ASSERT_TRUE(WaitForReads(*inner, 7));  // the rest is queued, the next read blocks
    while (values.size() < 6) glued.push_back(read());
  })) << "a read waited for a batch not yet made";
  EXPECT_EQ(values, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  for (int64_t size : glued) EXPECT_LE(size, 4);
  // The first threaded read returns what was queued by then; the next one all the rest.
  EXPECT_LE(glued.size(), 2u) << "queued batches were not glued";
  ASSERT_TRUE(reader->Close().ok());
}

}  // namespace prefetching_reader_test
}  // namespace arrowport
