#include "arrowport/ingest/stream_router.h"

#include <gtest/gtest.h>

#include <string>

namespace arrowport::ingest {
namespace stream_router_test {

config::Config WithStreams(std::initializer_list<const char*> names) {
  config::Config config;
  for (const auto* name : names) config.streams[name] = config::StreamConfig{};
  return config;
}

// A client sending random stream names must not grow the router without bound.
TEST(StreamRouter, UnconfiguredStreamsAreCappedWithLeastRecentlyUsedEviction) {
  StreamRouter router(WithStreams({"configured"}));
  router.RecordSuccess("early", 1, 1, 8);
  router.RecordSuccess("kept", 1, 1, 8);
  for (int i = 0; i < 5000; ++i) {
    router.RecordSuccess("random_" + std::to_string(i), 1, 1, 8);
    if (i % 100 == 0) router.RecordSuccess("kept", 1, 1, 8);
  }
  const auto snapshot = router.Snapshot();
  EXPECT_LE(snapshot.size(), 1u + 1024u);
  EXPECT_EQ(snapshot.count("configured"), 1u);  // configured streams are always listed
  ASSERT_EQ(snapshot.count("kept"), 1u);       // recently used: survives
  EXPECT_EQ(snapshot.at("kept").second.requests, 51);
  EXPECT_EQ(snapshot.count("early"), 0u);  // least recently used: evicted
  EXPECT_EQ(snapshot.count("random_4999"), 1u);
  EXPECT_EQ(snapshot.count("random_0"), 0u);
}

TEST(StreamRouter, ConfiguredStreamsKeepTheirCounters) {
  StreamRouter router(WithStreams({"sensors"}));
  router.RecordSuccess("sensors", 10, 1, 80);
  for (int i = 0; i < 3000; ++i) router.RecordSuccess("x" + std::to_string(i), 1, 1, 8);
  for (int i = 0; i < 3000; ++i) router.RecordError("y" + std::to_string(i));
  const auto snapshot = router.Snapshot();
  ASSERT_EQ(snapshot.count("sensors"), 1u);
  EXPECT_EQ(snapshot.at("sensors").second.rows, 10);
}

// DuckDB's table names ignore case: "SENSORS" writes the configured stream "sensors",
// and "Other" and "OTHER" one table. Each was listed twice, counted apart, and a
// configured stream written in another case joined the evictable pool.
TEST(StreamRouter, NamesDifferingInCaseShareOneEntry) {
  StreamRouter router(WithStreams({"sensors"}));
  router.RecordSuccess("SENSORS", 10, 1, 80);
  for (int i = 0; i < 3000; ++i) router.RecordSuccess("x" + std::to_string(i), 1, 1, 8);
  router.RecordSuccess("sensors", 5, 1, 40);
  router.RecordSuccess("Other", 1, 1, 8);
  router.RecordSuccess("OTHER", 2, 1, 16);
  const auto snapshot = router.Snapshot();
  EXPECT_EQ(snapshot.count("SENSORS"), 0u);
  ASSERT_EQ(snapshot.count("sensors"), 1u);
  EXPECT_EQ(snapshot.at("sensors").second.rows, 15);  // not evicted by the x's
  EXPECT_EQ(snapshot.at("sensors").second.requests, 2);
  EXPECT_EQ(snapshot.count("OTHER"), 0u);  // under its first spelling
  ASSERT_EQ(snapshot.count("Other"), 1u);
  EXPECT_EQ(snapshot.at("Other").second.rows, 3);
  // Metrics are labelled as the listing names them (the name RecordStart answers).
  const auto listed = [&router](const std::string& stream) {
    const std::string name = router.RecordStart(stream, config::CommitMode::kPerRequest);
    router.RecordEnd(stream);
    return name;
  };
  EXPECT_EQ(listed("SENSORS"), "sensors");
  EXPECT_EQ(listed("OTHER"), "Other");
  EXPECT_EQ(listed("new"), "new");
  // Dropped from the configuration, the stream keeps its configured spelling.
  router.Update(WithStreams({}));
  const auto dropped = router.Snapshot();
  EXPECT_EQ(dropped.count("SENSORS"), 0u);
  ASSERT_EQ(dropped.count("sensors"), 1u);
  EXPECT_EQ(dropped.at("sensors").second.rows, 15);
  // Counted unconfigured as "Other", then configured as "OTHER", then dropped: listed
  // as the configuration last spelled it.
  router.Update(WithStreams({"OTHER"}));
  EXPECT_EQ(router.Snapshot().count("OTHER"), 1u);
  router.Update(WithStreams({}));
  const auto renamed = router.Snapshot();
  EXPECT_EQ(renamed.count("Other"), 0u);
  ASSERT_EQ(renamed.count("OTHER"), 1u);
  EXPECT_EQ(renamed.at("OTHER").second.rows, 3);
}

// Names that never succeeded (typos, scans) get a small pool of their own, so a flood of
// them neither grows the map nor pushes out streams that carry data.
TEST(StreamRouter, FailuresOfUnknownStreamsAreBoundedAndEvictNoWorkingStream) {
  StreamRouter router(WithStreams({}));
  for (int i = 0; i < 10; ++i) router.RecordSuccess("good_" + std::to_string(i), 1, 1, 8);
  router.RecordError("dups", /*schema_mismatch=*/true);
  auto snapshot = router.Snapshot();
  ASSERT_EQ(snapshot.count("dups"), 1u);  // a failure is still visible while recent
  EXPECT_EQ(snapshot.at("dups").second.errors, 1);
  EXPECT_EQ(snapshot.at("dups").second.schema_mismatches, 1);
  for (int i = 0; i < 100000; ++i) router.RecordError("bad_" + std::to_string(i));
  snapshot = router.Snapshot();
  EXPECT_LE(snapshot.size(), 10u + 256u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(snapshot.count("good_" + std::to_string(i)), 1u) << i;
  EXPECT_EQ(snapshot.count("bad_99999"), 1u);
  // A failing name that then succeeds becomes a working stream with its history.
  router.RecordSuccess("bad_99999", 5, 1, 40);
  for (int i = 0; i < 1000; ++i) router.RecordError("worse_" + std::to_string(i));
  snapshot = router.Snapshot();
  ASSERT_EQ(snapshot.count("bad_99999"), 1u);
  EXPECT_EQ(snapshot.at("bad_99999").second.errors, 1);
  EXPECT_EQ(snapshot.at("bad_99999").second.rows, 5);
}

TEST(StreamRouter, StreamsDroppedFromTheConfigBecomeEvictable) {
  StreamRouter router(WithStreams({"old"}));
  router.RecordSuccess("old", 1, 1, 8);
  router.Update(WithStreams({"new"}));
  auto snapshot = router.Snapshot();
  EXPECT_EQ(snapshot.count("old"), 1u);  // counters survive a reload
  EXPECT_EQ(snapshot.count("new"), 1u);
  for (int i = 0; i < 2000; ++i) router.RecordSuccess("s" + std::to_string(i), 1, 1, 8);
  snapshot = router.Snapshot();
  EXPECT_EQ(snapshot.count("old"), 0u);
  EXPECT_EQ(snapshot.count("new"), 1u);
  EXPECT_LE(snapshot.size(), 1u + 1024u);
}

// A long per_batch request was missing from the streams until it ended, and on a stream
// listed before its rows, last write and commit mode stayed those of the earlier requests.
TEST(StreamRouter, RunningRequestsAreListedAndCountWhatTheyCommit) {
  StreamRouter router(WithStreams({}));
  router.RecordStart("long", config::CommitMode::kPerBatch);
  auto running = router.Snapshot().at("long").second;
  EXPECT_EQ(running.active_requests, 1);
  EXPECT_EQ(running.last_commit, "per_batch");
  EXPECT_EQ(running.rows, 0);
  EXPECT_EQ(running.last_write, "");
  router.RecordCommitted("long", 50000, 1, 400000);
  router.RecordCommitted("long", 50000, 1, 400000);
  running = router.Snapshot().at("long").second;
  EXPECT_EQ(running.rows, 100000);
  EXPECT_EQ(running.batches, 2);
  EXPECT_NE(running.last_write, "");
  EXPECT_EQ(running.requests, 0);  // counted when it ends
  router.RecordSuccess("long", 0, 0, 0);
  auto ended = router.Snapshot().at("long").second;
  EXPECT_EQ(ended.rows, 100000);
  EXPECT_EQ(ended.requests, 1);
  EXPECT_EQ(ended.active_requests, 0);
  // A second request with the configured mode; a retry that wrote nothing.
  router.RecordStart("long", config::CommitMode::kPerRequest);
  router.RecordStart("long", config::CommitMode::kPerRequest);
  EXPECT_EQ(router.Snapshot().at("long").second.active_requests, 2);
  router.RecordEnd("long");
  router.RecordError("long", false, 10, 1, 80);
  ended = router.Snapshot().at("long").second;
  EXPECT_EQ(ended.active_requests, 0);
  EXPECT_EQ(ended.last_commit, "per_request");
  EXPECT_EQ(ended.rows, 100010);
  EXPECT_EQ(ended.errors, 1);
  router.RecordEnd("long");  // never below zero
  EXPECT_EQ(router.Snapshot().at("long").second.active_requests, 0);
}

}  // namespace stream_router_test
}  // namespace arrowport::ingest
