// DeadlineSocketStream's body reads over a socket pair: a read waiting for a body's next
// bytes ends with the call it serves (BodyReadsEndWith), not only at http.read_timeout_s.
#include "arrowport/http/deadline_socket_stream.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "arrowport/common/call_cancellation.h"

namespace arrowport::http {
namespace deadline_socket_stream_test {

using Clock = std::chrono::steady_clock;

// An upload trickling a byte every few seconds held its call (and the database's reopen)
// for as long as its client liked: the call's end now ends the read within a slice.
TEST(DeadlineSocketStreamTest, ABodyReadWaitingForBytesEndsWithItsCall) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ConnectionTimeouts timeouts;
  timeouts.read = std::chrono::seconds(60);
  {
    DeadlineSocketStream stream(fds[0], timeouts);
    stream.BeginBody();
    auto call = CallCancellation::Make();
    const DeadlineSocketStream::BodyReadsEndWith ends(&stream, call);
    // Bytes that come are read as before.
    ASSERT_EQ(::write(fds[1], "ab", 2), 2);
    char got[2] = {0, 0};
    ASSERT_EQ(stream.read(got, 2), 2);
    EXPECT_EQ(std::string(got, 2), "ab");
    EXPECT_FALSE(stream.closes_after_response());
    std::thread ender([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      call->Cancel(arrow::Status::Cancelled("the database is being reopened"));
    });
    const auto start = Clock::now();
    EXPECT_EQ(stream.read(got, 1), -1);
    const auto waited = Clock::now() - start;
    ender.join();
    EXPECT_LT(waited, std::chrono::seconds(10));  // not the 60 s read timeout
    EXPECT_FALSE(stream.body_timed_out());         // the call's end, not the client's stall
    EXPECT_TRUE(stream.closes_after_response());   // the rest of the body is never read,
    ASSERT_EQ(::write(fds[1], "c", 1), 1);
    EXPECT_EQ(stream.read(got, 1), -1);  // nor drained after the answer
  }
  ::close(fds[1]);
}

}  // namespace deadline_socket_stream_test
}  // namespace arrowport::http
