#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "arrow/status.h"
#include "arrowport/common/call_watchdog.h"

namespace arrow::flight {
class FlightMessageReader;
class ServerCallContext;
}  // namespace arrow::flight

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}  // namespace grpc::experimental

namespace arrowport {
class Logger;
class MemoryBudget;
}  // namespace arrowport

namespace arrowport::flight {

/// \brief A gRPC server interceptor factory that enforces limits.max_batch_bytes on the
/// Arrow IPC messages DoPut and DoExchange receive, before Arrow decodes them.
///
/// Arrow's IPC reader inside Flight allocates and decompresses a batch as soon as the
/// handler reads it, sized by what the message declares (for a compressed batch, the
/// uncompressed length prefix of each buffer). The interceptor reads each received
/// FlightData's IPC header (DecodedSizeOfIpcMessage) at POST_RECV_MESSAGE; when the batch
/// would decode to more than `max_batch_bytes`, or its header is malformed, it drops the
/// message body, so Arrow's decode fails without allocating, and records the reason for
/// the thread that is reading (see WithMessageLimits). Register it through
/// FlightServerOptions::builder_hook (grpc::ServerBuilder::experimental()
/// .SetInterceptorCreators). The factory and its interceptors are thread-safe.
///
/// With `budget`, each call's last few messages (what it holds between the network and
/// DuckDB) are charged to the server-wide memory budget, received and decoded bytes; a
/// message that finds no room within the budget's wait is refused the same way
/// (ResourceExhausted), before it is decoded.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeMessageLimitsInterceptorFactory(int64_t max_batch_bytes,
                                    std::shared_ptr<MemoryBudget> budget = nullptr);

/// \brief The gRPC max receive message size for `max_batch_bytes`: one batch plus
/// headroom for its IPC header and the FlightData framing, at most INT_MAX.
int MaxReceiveMessageSize(int64_t max_batch_bytes);

/// \brief Wraps a DoPut / DoExchange reader so that a message the interceptor refused
/// ends the stream with the interceptor's reason (TooLarge "record batch declares N bytes
/// decoded, more than limits.max_batch_bytes (M)", or Invalid for a malformed header)
/// instead of Arrow's error about the missing body.
///
/// With gRPC's synchronous server the interceptor runs on the thread that calls Read()
/// (the completion queue is plucked there), and Arrow reads the next FlightData inside
/// Next(), so the reason travels through a thread_local set by the interceptor and taken
/// by the wrapper around each Next(), whatever thread calls it. Not thread-safe itself:
/// one reader is read by one thread at a time, as Arrow's own readers.
///
/// (A stream that gRPC ends because the call failed, e.g. a message over the receive
/// limit, looks like a clean end here; the ingest pipeline asks CallContext::client_gone
/// right before it commits, so such a request is not committed.)
///
/// With `idle` set, a DoPut whose handler waits longer than `idle.timeout` for the
/// client's next message (limits.idle_timeout_s) is cancelled through gRPC (the client
/// sees CANCELLED); the reader then fails with a Cancelled status naming the limit, so
/// nothing is committed and the call's admission slot is freed. Time the handler spends
/// on a batch it has (decoding, writing to DuckDB) never counts as idle.
///
/// With `budget`, each read first reserves `max_message_bytes` of the server-wide memory
/// budget (waiting briefly, then failing with ResourceExhausted before anything is
/// received); the interceptor charges the message's real size while it is held.
struct IdleLimit {
  CallWatchdog* watchdog = nullptr;
  std::chrono::seconds timeout{0};  ///< 0 = no idle limit
  Logger* logger = nullptr;         ///< says when and why a DoPut was cancelled; may be null
  std::shared_ptr<MemoryBudget> budget;  ///< may be null
  int64_t max_message_bytes = 0;
  /// When set, counts the bytes of every message body received (as sent: compressed when
  /// the batches are): the stream's compression ratio.
  std::shared_ptr<std::atomic<int64_t>> received_bytes;
};
std::unique_ptr<arrow::flight::FlightMessageReader> WithMessageLimits(
    std::unique_ptr<arrow::flight::FlightMessageReader> reader,
    const arrow::flight::ServerCallContext& context, IdleLimit idle = {});

/// \brief The reason the interceptor refused the last message received on this thread, if
/// any since the last call; clears it. WithMessageLimits uses it; exposed for tests.
arrow::Status TakeMessageRefusal();

}  // namespace arrowport::flight
