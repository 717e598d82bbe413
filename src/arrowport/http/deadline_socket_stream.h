#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "arrowport/http/transport.h"

namespace arrowport {
class CallCancellation;
}  // namespace arrowport

namespace arrowport::http {

/// Timeouts of one HTTP connection (http.header_timeout_s, http.read_timeout_s, ...).
struct ConnectionTimeouts {
  std::chrono::milliseconds keep_alive{5000};  ///< idle wait for the next request
  std::chrono::milliseconds header{10000};     ///< request line + headers, from the first byte
  std::chrono::milliseconds read{30000};       ///< wait for the next bytes of a body
  std::chrono::milliseconds write{60000};      ///< wait for the client to take more bytes
};

/// \brief cpp-httplib's Stream over one accepted socket for the connection's whole life
/// (httplib's own SocketStream lives per request and only knows per-read timeouts, so a
/// client sending one header byte every few seconds holds a thread forever). Reads
/// are buffered and deadline-aware: while the request line and headers arrive, every
/// read shares one deadline set at the request's first byte; while a body arrives,
/// each read waits at most `read`. Writes wait at most `write` for room. Used by one
/// thread at a time (the connection's worker). Bytes move through a Transport: plain TCP
/// by default, or an established TLS session.
class DeadlineSocketStream : public httplib::Stream {
 public:
  /// `transport` null: plain TCP on `fd`.
  DeadlineSocketStream(int fd, ConnectionTimeouts timeouts,
                       std::unique_ptr<Transport> transport = nullptr);
  ~DeadlineSocketStream() override;

  /// Waits up to the keep-alive timeout for the first byte of the next request. False
  /// on timeout, end of stream or error (the connection is then closed).
  bool WaitForRequest();
  /// The request's first byte is here: starts the header deadline.
  void BeginHeaders();
  /// The headers are parsed: from now on each read waits at most `read`.
  void BeginBody();
  /// Bytes of the current request's body read off the connection so far, as they arrived
  /// (before any Content-Encoding is undone). Any thread.
  int64_t body_bytes() const { return body_bytes_.load(std::memory_order_relaxed); }
  /// True once a read of the current request's body waited `read` for bytes in vain
  /// (http.read_timeout_s): the client stalled, as opposed to leaving. Reset by BeginBody().
  bool body_timed_out() const { return body_timed_out_; }
  std::chrono::milliseconds read_timeout() const { return timeouts_.read; }
  /// After a request was refused: at most `bytes` more of its body are read (drained so
  /// the connection can serve the next request); beyond them reads fail and the
  /// connection is closed. Reset by WaitForRequest().
  void LimitRemainingReads(int64_t bytes);

  /// While it lives, a read of `stream`'s body (may be null) waiting for bytes ends, as
  /// failed, within 200 ms of `call`'s cancellation: the call's end (the reopen of an
  /// invalidated database, shutdown) ends an upload trickling a byte every few seconds.
  /// The connection serves nothing more after such a read. On the connection's own
  /// thread; restores what it replaced.
  class BodyReadsEndWith {
   public:
    BodyReadsEndWith(DeadlineSocketStream* stream, std::shared_ptr<CallCancellation> call)
        : stream_(stream) {
      if (stream_ != nullptr) previous_ = std::exchange(stream_->body_reads_end_with_, call);
    }
    ~BodyReadsEndWith() {
      if (stream_ != nullptr) stream_->body_reads_end_with_ = std::move(previous_);
    }
    BodyReadsEndWith(const BodyReadsEndWith&) = delete;
    BodyReadsEndWith& operator=(const BodyReadsEndWith&) = delete;

   private:
    DeadlineSocketStream* const stream_;
    std::shared_ptr<CallCancellation> previous_;
  };

  /// The response in progress failed after its headers, and its framing cannot say so
  /// (HTTP/1.0: no chunks, the close ends the body): the connection ends abortively, with
  /// no TLS close_notify and a TCP reset, so the client sees an error instead of an end.
  /// What was not yet sent may be lost with it. The connection serves nothing more.
  void Cut() { cut_ = true; }
  bool cut() const { return cut_; }
  /// The request's body was refused unread and its end is unknown: the connection serves
  /// nothing more, and its owner drops what the client still sends for a moment before
  /// closing (a close with unread bytes is a reset, which can destroy the answer).
  void CloseAfterResponse() { close_after_response_ = true; }
  bool closes_after_response() const { return close_after_response_; }
  /// A write failed because the client took nothing for `write`
  /// (limits.write_stall_timeout_s), not because the connection broke.
  bool write_stalled() const { return write_stalled_; }
  /// Shuts the socket down when a write is waiting for the client to take bytes, so that
  /// write fails at once; otherwise nothing. Any thread (a cancelled call's last resort:
  /// HttpCall).
  void ShutdownIfWaitingToWrite() const;
  std::chrono::milliseconds write_timeout() const { return timeouts_.write; }

  /// "ip:port" of the peer of socket `fd` ("" when unknown), for logs.
  static std::string PeerAddress(int fd);

  /// The stream of the connection the calling thread serves, or null. Handlers use it to
  /// watch their client (the socket) and to limit draining.
  static DeadlineSocketStream* Current();
  /// Makes `stream` the calling thread's current stream until destroyed.
  class CurrentScope {
   public:
    explicit CurrentScope(DeadlineSocketStream* stream);
    ~CurrentScope();
    CurrentScope(const CurrentScope&) = delete;
    CurrentScope& operator=(const CurrentScope&) = delete;

   private:
    DeadlineSocketStream* previous_;
  };

  // httplib::Stream
  bool is_readable() const override;
  bool wait_readable() const override;
  bool wait_writable() const override;
  bool is_peer_alive() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }
  time_t duration() const override;

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point ReadDeadline() const;
  // Polls for `events` on a write's behalf, marked as waiting to write meanwhile
  // (ShutdownIfWaitingToWrite).
  bool PollToWrite(short events, Clock::time_point deadline) const;
  // Polls for `events` on a body read's behalf, until the deadline or the call's end
  // (BodyReadsEndWith).
  bool PollForBody(short events, Clock::time_point deadline) const;

  const int fd_;
  const ConnectionTimeouts timeouts_;
  std::unique_ptr<Transport> transport_;
  enum class Phase { kIdle, kHeaders, kBody } phase_ = Phase::kIdle;
  Clock::time_point request_start_ = Clock::now();
  Clock::time_point header_deadline_ = Clock::now();
  int64_t remaining_reads_ = -1;  // < 0: unlimited
  std::atomic<int64_t> body_bytes_{0};
  std::vector<char> buffer_;
  size_t buffer_begin_ = 0;
  size_t buffer_end_ = 0;
  bool cut_ = false;
  bool close_after_response_ = false;
  std::shared_ptr<CallCancellation> body_reads_end_with_;
  bool body_timed_out_ = false;
  mutable bool write_stalled_ = false;  // set by wait_writable() too
  mutable std::atomic<bool> waiting_to_write_{false};  // in a wait for room to write
};

}  // namespace arrowport::http
