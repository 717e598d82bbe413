#include "arrowport/http/chunked_body_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace arrowport::http {
namespace chunked_body_stream_test {

// What a client's chunked decoder makes of `wire`: the body, and whether the last chunk
// came. Fails the test on a framing error.
std::pair<std::string, bool> Decode(const std::string& wire) {
  std::string body;
  size_t at = 0;
  while (at < wire.size()) {
    const size_t line_end = wire.find("\r\n", at);
    EXPECT_NE(line_end, std::string::npos) << "a chunk header without its CRLF";
    if (line_end == std::string::npos) break;
    const size_t size = std::stoul(wire.substr(at, line_end - at), nullptr, 16);
    at = line_end + 2;
    if (size == 0) {
      EXPECT_EQ(wire.substr(at), "\r\n");
      return {body, true};
    }
    EXPECT_LE(at + size + 2, wire.size()) << "a chunk cut short";
    body += wire.substr(at, size);
    EXPECT_EQ(wire.substr(at + size, 2), "\r\n");
    at += size + 2;
  }
  return {body, false};
}

struct Recorder {
  std::string wire;
  std::vector<size_t> writes;
  httplib::DataSink sink;
  Recorder() {
    sink.write = [this](const char* data, size_t size) {
      wire.append(data, size);
      writes.push_back(size);
      return true;
    };
  }
};

TEST(ChunkedBodyStreamTest, FramesSmallAndLargeWritesIntoOneValidBody) {
  Recorder recorder;
  ChunkedBodyStream body(&recorder.sink, 1024);
  std::string expected;
  for (size_t size : {1u, 7u, 300u, 900u, 5000u, 0u, 2u, 512u, 513u, 100000u, 3u}) {
    std::string piece(size, static_cast<char>('a' + size % 26));
    ASSERT_TRUE(body.Write(piece.data(), static_cast<int64_t>(piece.size())).ok());
    expected += piece;
  }
  ASSERT_TRUE(body.Close().ok());
  ASSERT_TRUE(body.Finish().ok());
  auto [decoded, complete] = Decode(recorder.wire);
  EXPECT_TRUE(complete);
  EXPECT_EQ(decoded, expected);
  EXPECT_EQ(body.Tell().ValueOrDie(), static_cast<int64_t>(expected.size()));
  // The large pieces went out as they were (no copy): a write of their exact size.
  EXPECT_NE(std::find(recorder.writes.begin(), recorder.writes.end(), 100000u),
            recorder.writes.end());
}

TEST(ChunkedBodyStreamTest, AnEmptyBodyIsTheLastChunkAlone) {
  Recorder recorder;
  ChunkedBodyStream body(&recorder.sink);
  ASSERT_TRUE(body.Finish().ok());
  EXPECT_EQ(recorder.wire, "0\r\n\r\n");
}

TEST(ChunkedBodyStreamTest, AnAbortedBodySendsWhatWasWrittenButNeverItsLastChunk) {
  Recorder recorder;
  ChunkedBodyStream body(&recorder.sink, 1024);
  std::string big(4096, 'x');
  ASSERT_TRUE(body.Write(big.data(), 4096).ok());
  ASSERT_TRUE(body.Write("tail", 4).ok());  // buffered when the error comes
  ASSERT_TRUE(body.Abort().ok());
  auto [decoded, complete] = Decode(recorder.wire);
  EXPECT_FALSE(complete);
  EXPECT_EQ(decoded, big + "tail");  // every chunk closed: a client yields all of it
  EXPECT_FALSE(body.Write("more", 4).ok());
  EXPECT_FALSE(body.Finish().ok());
  EXPECT_EQ(Decode(recorder.wire).second, false);
}

TEST(ChunkedBodyStreamTest, NothingFollowsTheLastChunk) {
  Recorder recorder;
  ChunkedBodyStream body(&recorder.sink, 1024);
  ASSERT_TRUE(body.Write("abc", 3).ok());
  ASSERT_TRUE(body.Finish().ok());
  const std::string complete = recorder.wire;
  EXPECT_EQ(Decode(complete), std::make_pair(std::string("abc"), true));
  // A second Finish, an Abort or a Write after it would write into the next response.
  EXPECT_FALSE(body.Finish().ok());
  EXPECT_TRUE(body.Abort().ok());
  EXPECT_FALSE(body.Write("x", 1).ok());
  EXPECT_EQ(recorder.wire, complete);
}

TEST(ChunkedBodyStreamTest, EachChunkIsWholeWhenSent) {
  // A streaming client hands a chunk over once its CRLF came: none may wait for the next.
  Recorder recorder;
  ChunkedBodyStream body(&recorder.sink, 1024);
  std::string big(4096, 'y');
  ASSERT_TRUE(body.Write(big.data(), 4096).ok());
  EXPECT_EQ(Decode(recorder.wire), std::make_pair(big, false));
  ASSERT_TRUE(body.Write("z", 1).ok());
  ASSERT_TRUE(body.Flush().ok());
  EXPECT_EQ(Decode(recorder.wire), std::make_pair(big + "z", false));
}

TEST(ChunkedBodyStreamTest, APeerThatWentAwayFailsTheWrite) {
  httplib::DataSink sink;
  sink.write = [](const char*, size_t) { return false; };
  ChunkedBodyStream body(&sink, 16);
  std::string big(64, 'x');
  EXPECT_FALSE(body.Write(big.data(), 64).ok());
}

// HTTP/1.0: the same writes go out as they are, buffered alike, and nothing marks the
// end (the connection's close does).
TEST(ChunkedBodyStreamTest, AnUnchunkedBodyIsTheBytesWrittenAndNothingElse) {
  Recorder recorder;
  ChunkedBodyStream body(&recorder.sink, 1024, /*chunked=*/false);
  std::string expected;
  for (size_t size : {1u, 7u, 300u, 900u, 5000u, 0u, 2u, 100000u, 3u}) {
    std::string piece(size, static_cast<char>('a' + size % 26));
    ASSERT_TRUE(body.Write(piece.data(), static_cast<int64_t>(piece.size())).ok());
    expected += piece;
  }
  ASSERT_TRUE(body.Finish().ok());
  EXPECT_EQ(recorder.wire, expected);
  EXPECT_LT(recorder.writes.size(), 9u);  // small writes gathered
  (void)body.Abort();
  EXPECT_EQ(recorder.wire, expected);  // nothing after Finish
}

}  // namespace chunked_body_stream_test
}  // namespace arrowport::http
