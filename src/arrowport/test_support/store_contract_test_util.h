#pragma once

// What every object store promises the lake's commits, asked the same way of each store's
// tests (local_store_test.cc, s3_store_test.cc).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "arrow/buffer.h"
#include "arrowport/objectstore/object_store.h"

namespace arrowport::objectstore::testing {

/// \brief `rounds` keys, each written at once by `writers` threads with PutIfAbsent:
/// exactly one wins, the others are told AlreadyExists, and the object holds the winner's
/// bytes (the commit of a lake version is such a race).
inline void ExpectOnePutIfAbsentWinner(ObjectStore& store, int writers, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    const std::string key = "log/" + std::to_string(round) + ".json";
    std::atomic<int> wins{0}, losses{0}, ready{0}, winner{-1};
    std::vector<std::thread> threads;
    for (int i = 0; i < writers; ++i) {
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < writers) {
        }
        const auto status =
            store.PutIfAbsent(key, arrow::Buffer::FromString("writer " + std::to_string(i)));
        if (status.ok()) {
          wins.fetch_add(1);
          winner.store(i);
        } else if (IsAlreadyExists(status)) {
          losses.fetch_add(1);
        } else {
          ADD_FAILURE() << status.ToString();
        }
      });
    }
    for (auto& thread : threads) thread.join();
    ASSERT_EQ(wins.load(), 1) << key;
    ASSERT_EQ(losses.load(), writers - 1) << key;
    auto stored = store.Get(key);
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    EXPECT_EQ((*stored)->ToString(), "writer " + std::to_string(winner.load()));
  }
}

}  // namespace arrowport::objectstore::testing
