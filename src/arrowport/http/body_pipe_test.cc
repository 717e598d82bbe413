#include "arrowport/http/body_pipe.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "arrow/api.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/reader.h"
#include "arrow/ipc/writer.h"

namespace arrowport::http {
namespace body_pipe_test {

using namespace std::chrono_literals;

// Long enough for a thread that is not blocked to have run, short enough to keep the
// suite fast. Only used to check that something did NOT happen.
constexpr auto kSettle = 150ms;
// Generous bound for something that must happen (a loaded 2-core box is slow).
constexpr auto kEventually = 10s;

std::string ReadAll(BodyPipe* pipe, int64_t chunk) {
  std::string out;
  std::string buf(static_cast<size_t>(chunk), '\0');
  for (;;) {
    auto n = pipe->Read(chunk, buf.data());
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok() || *n == 0) break;
    out.append(buf.data(), static_cast<size_t>(*n));
  }
  return out;
}

TEST(BodyPipeTest, BytesPushedOnOneThreadArriveInOrderOnAnother) {
  BodyPipe pipe(/*max_buffered_bytes=*/64);
  std::string expected;
  for (int i = 0; i < 2000; ++i) expected += "chunk-" + std::to_string(i) + ";";
  std::thread producer([&] {
    // Uneven chunk sizes, some larger than the read size, some smaller.
    size_t pos = 0;
    size_t size = 1;
    while (pos < expected.size()) {
      const size_t n = std::min(size, expected.size() - pos);
      if (!pipe.Push(expected.data() + pos, n)) {
        ADD_FAILURE() << "Push refused while the reader was reading";
        break;
      }
      pos += n;
      size = size % 97 + 7;
    }
    pipe.Finish();
  });
  const std::string got = ReadAll(&pipe, 33);
  producer.join();
  EXPECT_EQ(got, expected);
  EXPECT_EQ(pipe.Tell().ValueOrDie(), static_cast<int64_t>(expected.size()));
  EXPECT_TRUE(pipe.abort_status().ok());
  // End of body stays end of body.
  char c;
  EXPECT_EQ(pipe.Read(1, &c).ValueOrDie(), 0);
}

TEST(BodyPipeTest, ReadFillsTheRequestAcrossChunksAndReturnsShortAtTheEnd) {
  BodyPipe pipe(1024);
  ASSERT_TRUE(pipe.Push("abc", 3));
  ASSERT_TRUE(pipe.Push("defg", 4));
  pipe.Finish();
  auto buffer = pipe.Read(5).ValueOrDie();
  EXPECT_EQ(buffer->ToString(), "abcde");
  buffer = pipe.Read(100).ValueOrDie();
  EXPECT_EQ(buffer->ToString(), "fg");
  EXPECT_EQ(pipe.Read(100).ValueOrDie()->size(), 0);
  EXPECT_EQ(pipe.Tell().ValueOrDie(), 7);
}

TEST(BodyPipeTest, ReadWaitsForDataInsteadOfReportingEndOfBody) {
  BodyPipe pipe(1024);
  auto reader = std::async(std::launch::async, [&] { return pipe.Read(4).ValueOrDie(); });
  EXPECT_EQ(reader.wait_for(kSettle), std::future_status::timeout);
  ASSERT_TRUE(pipe.Push("ab", 2));
  EXPECT_EQ(reader.wait_for(kSettle), std::future_status::timeout);  // wants 4 bytes
  ASSERT_TRUE(pipe.Push("cd", 2));
  ASSERT_EQ(reader.wait_for(kEventually), std::future_status::ready);
  EXPECT_EQ(reader.get()->ToString(), "abcd");
}

TEST(BodyPipeTest, AFullPipeBlocksThePusherUntilTheReaderDrainsIt) {
  BodyPipe pipe(/*max_buffered_bytes=*/8);
  ASSERT_TRUE(pipe.Push("12345678", 8));  // now full
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    EXPECT_TRUE(pipe.Push("9", 1));
    pushed = true;
  });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(pushed) << "Push must block while max_buffered_bytes are waiting";

  // Reading part of the front chunk does not free it yet; reading all of it does.
  char buf[8];
  ASSERT_EQ(pipe.Read(4, buf).ValueOrDie(), 4);
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(pushed);
  ASSERT_EQ(pipe.Read(4, buf).ValueOrDie(), 4);
  producer.join();
  EXPECT_TRUE(pushed);
  pipe.Finish();
  EXPECT_EQ(pipe.Read(8).ValueOrDie()->ToString(), "9");
}

TEST(BodyPipeTest, AChunkLargerThanTheLimitIsAcceptedIntoAnEmptyPipe) {
  // Otherwise a single large receive callback would deadlock the connection.
  BodyPipe pipe(4);
  const std::string big(100, 'x');
  ASSERT_TRUE(pipe.Push(big.data(), big.size()));
  pipe.Finish();
  EXPECT_EQ(ReadAll(&pipe, 7), big);
}

TEST(BodyPipeTest, AbortSurfacesItsReasonAfterTheBytesAlreadyReceived) {
  BodyPipe pipe(1024);
  ASSERT_TRUE(pipe.Push("head", 4));
  pipe.Abort(arrow::Status::IOError("client hung up"));
  EXPECT_EQ(pipe.abort_status().message(), "client hung up");
  char buf[16];
  // The bytes that arrived are still delivered...
  EXPECT_EQ(pipe.Read(4, buf).ValueOrDie(), 4);
  EXPECT_EQ(std::string(buf, 4), "head");
  // ...then the reader gets the producer's reason, not a clean end of body.
  auto st = pipe.Read(4, buf);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.status().IsIOError());
  EXPECT_EQ(st.status().message(), "client hung up");
  // Also when the read asked for more than what was left.
  BodyPipe partial(1024);
  ASSERT_TRUE(partial.Push("ab", 2));
  partial.Abort(arrow::Status::CapacityError("body too large"));
  auto more = partial.Read(16, buf);
  ASSERT_FALSE(more.ok());
  EXPECT_TRUE(more.status().IsCapacityError());
}

TEST(BodyPipeTest, AbortWakesAReaderThatIsWaiting) {
  BodyPipe pipe(1024);
  auto reader = std::async(std::launch::async, [&] { return pipe.Read(4).status(); });
  EXPECT_EQ(reader.wait_for(kSettle), std::future_status::timeout);
  pipe.Abort(arrow::Status::Cancelled("shutting down"));
  ASSERT_EQ(reader.wait_for(kEventually), std::future_status::ready);
  EXPECT_TRUE(reader.get().IsCancelled());
}

TEST(BodyPipeTest, AwaitEndWaitsForTheBodysEndAndReturnsHowItEnded) {
  // The reader met the stream's end; it learns how the body ended, not before it did.
  BodyPipe cut(4);
  auto ended = std::async(std::launch::async, [&] { return cut.AwaitEnd(); });
  EXPECT_EQ(ended.wait_for(kSettle), std::future_status::timeout);
  cut.Abort(arrow::Status::Invalid("gzip stream cut short"));
  ASSERT_EQ(ended.wait_for(kEventually), std::future_status::ready);
  EXPECT_EQ(ended.get().message(), "gzip stream cut short");
  BodyPipe whole(4);
  whole.Finish();
  EXPECT_TRUE(whole.AwaitEnd().ok());
}

TEST(BodyPipeTest, AwaitEndRefusesBytesAfterTheStreamsEnd) {
  // A second stream in the same body (or anything else after the marker) was dropped,
  // and the first stream committed with 200.
  BodyPipe pipe(4);
  char marker[8];
  ASSERT_TRUE(pipe.Push("\xff\xff\xff\xff\0\0\0\0", 8));
  ASSERT_EQ(*pipe.Read(8, marker), 8);
  // Should AwaitEnd not return, the body's end lets it (the future's end waits for it).
  struct EndsTheBody {
    BodyPipe& pipe;
    ~EndsTheBody() { pipe.Abort(arrow::Status::Cancelled("the test ended")); }
  };
  auto ended = std::async(std::launch::async, [&] { return pipe.AwaitEnd(); });
  EndsTheBody ends{pipe};
  EXPECT_EQ(ended.wait_for(kSettle), std::future_status::timeout);
  ASSERT_TRUE(pipe.Push("next", 4));
  ASSERT_EQ(ended.wait_for(kEventually), std::future_status::ready);
  const arrow::Status st = ended.get();
  EXPECT_TRUE(st.IsInvalid());
  EXPECT_NE(st.message().find("goes on after its Arrow IPC stream ended (the "
                              "end-of-stream marker at byte 8)"),
            std::string::npos)
      << st.message();
  // Pushed before the reader got there, and the body ended: the same.
  BodyPipe early(64);
  ASSERT_TRUE(early.Push("rest", 4));
  early.Finish();
  EXPECT_TRUE(early.AwaitEnd().IsInvalid());
}

TEST(BodyPipeTest, CloseByTheReaderMakesPushReturnFalse) {
  BodyPipe pipe(1024);
  ASSERT_TRUE(pipe.Push("abc", 3));
  EXPECT_FALSE(pipe.closed());
  ASSERT_TRUE(pipe.Close().ok());
  EXPECT_TRUE(pipe.closed());
  EXPECT_FALSE(pipe.Push("def", 3));
  char c;
  EXPECT_TRUE(pipe.Read(1, &c).status().IsInvalid());
}

TEST(BodyPipeTest, CloseReleasesAPusherBlockedOnAFullPipe) {
  BodyPipe pipe(4);
  ASSERT_TRUE(pipe.Push("full", 4));
  auto producer = std::async(std::launch::async, [&] { return pipe.Push("more", 4); });
  EXPECT_EQ(producer.wait_for(kSettle), std::future_status::timeout);
  ASSERT_TRUE(pipe.Close().ok());
  ASSERT_EQ(producer.wait_for(kEventually), std::future_status::ready);
  EXPECT_FALSE(producer.get());
}

TEST(BodyPipeTest, CarriesAnArrowIpcStreamToTheReader) {
  auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  arrow::Int64Builder builder;
  for (int64_t i = 0; i < 10000; ++i) ASSERT_TRUE(builder.Append(i).ok());
  auto batch = arrow::RecordBatch::Make(schema, 10000, {builder.Finish().ValueOrDie()});
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  auto writer = arrow::ipc::MakeStreamWriter(sink, schema).ValueOrDie();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer->WriteRecordBatch(*batch).ok());
  ASSERT_TRUE(writer->Close().ok());
  auto body = sink->Finish().ValueOrDie();

  auto pipe = std::make_shared<BodyPipe>(/*max_buffered_bytes=*/4096);
  std::thread producer([&] {
    for (int64_t pos = 0; pos < body->size(); pos += 1000) {
      const int64_t n = std::min<int64_t>(1000, body->size() - pos);
      if (!pipe->Push(reinterpret_cast<const char*>(body->data()) + pos, n)) return;
    }
    pipe->Finish();
  });
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(pipe).ValueOrDie();
  auto table = reader->ToTable().ValueOrDie();
  producer.join();
  EXPECT_EQ(table->num_rows(), 50000);
  EXPECT_TRUE(table->schema()->Equals(*schema));
}

}  // namespace body_pipe_test
}  // namespace arrowport::http
