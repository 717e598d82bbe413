#include "arrowport/storage/core/quiet_execution.h"

#include <gtest/gtest.h>

#include <time.h>

#include <chrono>

namespace arrowport::storage {
namespace quiet_execution_test {

using Clock = std::chrono::steady_clock;

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

TEST(QuietExecution, NapsWhileThereIsNoTaskToRun) {
  // A worker runs a 300 ms phase alone: DuckDB's own loop asks for a task millions of
  // times meanwhile, on a core of its own.
  const auto until = Clock::now() + std::chrono::milliseconds(300);
  int64_t asks = 0;
  const double cpu = ThreadCpuSeconds();
  const auto state = RunTasksQuietly([&] {
    ++asks;
    return Clock::now() < until ? DUCKDB_PENDING_NO_TASKS_AVAILABLE
                                : DUCKDB_PENDING_RESULT_READY;
  });
  EXPECT_EQ(state, DUCKDB_PENDING_RESULT_READY);
  // Naps of at most 500 us: about 600 asks in 300 ms, some more on a busy machine.
  EXPECT_LT(asks, 5000);
  EXPECT_LT(ThreadCpuSeconds() - cpu, 0.1);
}

TEST(QuietExecution, RunsTasksBackToBackWithoutNapping) {
  int64_t asks = 0;
  const auto start = Clock::now();
  const auto state = RunTasksQuietly([&] {
    return ++asks < 100'000 ? DUCKDB_PENDING_RESULT_NOT_READY
                            : DUCKDB_PENDING_RESULT_READY;
  });
  EXPECT_EQ(state, DUCKDB_PENDING_RESULT_READY);
  // A nap between tasks would take at least 100,000 x 20 us = 2 s.
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
}

TEST(QuietExecution, NoticesSoonThatAPhaseEnded) {
  // No task for 50 ms, then tasks again (the next pipeline), then the result.
  const auto phase_end = Clock::now() + std::chrono::milliseconds(50);
  Clock::time_point resumed{};
  int64_t tasks_after = 0;
  RunTasksQuietly([&] {
    if (Clock::now() < phase_end) return DUCKDB_PENDING_NO_TASKS_AVAILABLE;
    if (tasks_after++ == 0) resumed = Clock::now();
    // Each task ran resets the naps: idle again briefly, then the result.
    return tasks_after < 1000 ? DUCKDB_PENDING_RESULT_NOT_READY
                              : DUCKDB_PENDING_RESULT_READY;
  });
  // Within a nap (500 us) and a busy machine's scheduling delay.
  EXPECT_LT(resumed - phase_end, std::chrono::milliseconds(20));
}

TEST(QuietExecution, AnErrorEndsIt) {
  int64_t asks = 0;
  EXPECT_EQ(RunTasksQuietly([&] {
              return ++asks < 3 ? DUCKDB_PENDING_NO_TASKS_AVAILABLE
                                : DUCKDB_PENDING_ERROR;
            }),
            DUCKDB_PENDING_ERROR);
  EXPECT_EQ(asks, 3);
}

}  // namespace quiet_execution_test
}  // namespace arrowport::storage
